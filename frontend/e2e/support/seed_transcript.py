"""Give a ready video a long transcript, straight into the test server's database.

`seed_transcript.py VIDEO_ID SEGMENTS SECONDS_EACH` (DATABASE_URL in the environment, the
throwaway database of the e2e server) writes what a succeeded `transcribe` job writes: a
ProcessingJob row (kind transcribe, succeeded, 0 credits), the Transcript row, and its search
rows through app.search.index_transcript, in one transaction, as
app/pipeline/kinds/transcribe.py does. Segment k says "line number k" from k x SECONDS_EACH.

Why not a real transcription: the measurement (a 2,000-segment transcript on the video page)
needs exactly that many segments, which no model makes from test speech in a useful time, and
the e2e server must keep the local model for the rest of the suite. The page reads the rows
through the same API routes either way. Prints the job id.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from app import search  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.models import ProcessingJob, Transcript, VideoSource, utc_now  # noqa: E402


def seed(video_id: int, count: int, seconds_each: float) -> int:
    engine = make_engine(Settings())
    with Session(engine) as session:
        video = session.get(VideoSource, video_id)
        assert video is not None and video.status == "ready", f"video {video_id} is not ready"
        now = utc_now()
        job = ProcessingJob(
            kind="transcribe",
            status="succeeded",
            stage="storing",
            progress=1.0,
            attempts=1,
            credits_charged=0,
            options={"language": "en"},
            video_id=video_id,
            user_id=video.user_id,
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        session.add(job)
        session.flush()
        segments = [
            {
                "start": round(k * seconds_each, 3),
                "end": round((k + 1) * seconds_each - 0.05, 3),
                "text": f" line number {k}",
                "words": None,
            }
            for k in range(count)
        ]
        transcript = Transcript(
            video_id=video_id,
            job_id=job.id,
            user_id=video.user_id,
            language="en",
            duration_seconds=count * seconds_each,
            text="".join(segment["text"] for segment in segments).strip(),
            provider="local",
            model="seeded",
            segments=segments,
            created_at=now,
        )
        session.add(transcript)
        session.flush()
        search.index_transcript(session, transcript)
        session.commit()
        return job.id


if __name__ == "__main__":
    print(seed(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
