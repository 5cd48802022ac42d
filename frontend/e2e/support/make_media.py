"""Media for the web app's end-to-end tests, made now (nothing is committed).

`make_media.py OUTDIR` writes, and prints as one JSON object:
  speech.mp4  espeak-ng speaking SENTENCES (H.264 + AAC), via tests/support/speech.py
  story.mp4   the same sentences said STORY_TIMES times (about a minute): the upload of the browser
              flow, long enough for its transcription to report progress several times
  long.mp4    LONG_SECONDS of a small H.264 picture (no sound): the video that gets the
              2,000-segment transcript of the measurement (seed_transcript.py)
Run with the project's .venv python from the repository root (it imports tests.support).
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.support import media, speech  # noqa: E402 - the project's test media makers

# Known words, a few sentences, spoken slowly enough for the small local model.
SENTENCES = [
    "Welcome to the video platform demonstration.",
    "Our purple elephant enjoys riding mountain bicycles.",
    "The library opens every morning at nine o'clock.",
    "Thank you for watching this presentation.",
]
STORY_TIMES = 4
LONG_SECONDS = 1000  # 2,000 segments of half a second


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    speech_file = speech.speech_video(out / "speech.mp4", " ... ".join(SENTENCES), speed=130)
    story_file = speech.speech_video(
        out / "story.mp4", " ... ".join(SENTENCES * STORY_TIMES), speed=130
    )
    long_file = media.make_video(
        out / "long.mp4", seconds=LONG_SECONDS, size=(64, 48), rate=1, audio_codec=None
    )
    print(
        json.dumps(
            {
                "speech": str(speech_file),
                "sentences": SENTENCES,
                "story": str(story_file),
                "long": str(long_file),
                "long_seconds": LONG_SECONDS,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
