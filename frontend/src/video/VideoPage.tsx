import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useParams, useSearchParams } from 'react-router';

import { ApiError, getSummary, getTranscript, getVideo, listVideoJobs } from '../api';
import { errorInWords } from '../common/errorCodes';
import { ErrorText } from '../common/ErrorText';
import { Loading } from '../common/Loading';
import { NotFound } from '../common/NotFound';
import { useTitle } from '../common/useTitle';
import { STATUS_WORDS, videoName } from '../videos/VideoItem';
import { BuyJobs } from './BuyJobs';
import { DeleteVideo } from './DeleteVideo';
import { Details } from './Details';
import { Jobs } from './Jobs';
import { Player, playbackQuery } from './Player';
import { SummaryPanel } from './SummaryPanel';
import { Transcript } from './Transcript';

/** `/app/videos/{id}?t=SECONDS`: the player, the transcript beside it, jobs and summary. */
export default function VideoPage() {
  const { videoId } = useParams();
  const [params] = useSearchParams();
  const id = Number(videoId);
  const t = Number(params.get('t') ?? Number.NaN);
  if (!Number.isSafeInteger(id) || id <= 0) return <NotFound what="video" />;
  return <VideoView key={id} id={id} startAt={Number.isFinite(t) && t >= 0 ? t : null} />;
}

function VideoView({ id, startAt }: { id: number; startAt: number | null }) {
  const video = useQuery({
    queryKey: ['video', id],
    queryFn: () => getVideo(id),
    refetchInterval: (query) => (query.state.data?.status === 'processing' ? 3000 : false),
  });
  // What the first screen needs is asked for beside the video itself (a 404 for another user's
  // video or a missing transcript is expected: it shows as nothing). The summary waits for the
  // jobs to say there is one; the captions wait for the player's metadata.
  const jobs = useQuery({ queryKey: ['jobs', id], queryFn: () => listVideoJobs(id) });
  const playback = useQuery({ ...playbackQuery(id), enabled: video.data === undefined || video.data.status === 'ready' });
  // The transcript (heavy for the server to write out) once the playback URL is there, so the
  // player's first bytes do not queue behind it.
  const transcript = useQuery({
    queryKey: ['transcript', id],
    queryFn: () => getTranscript(id),
    enabled: playback.fetchStatus === 'idle',
  });
  const summarized = jobs.data?.some((job) => job.kind === 'summarize' && job.status === 'succeeded') ?? false;
  const summary = useQuery({ queryKey: ['summary', id], queryFn: () => getSummary(id), enabled: summarized });
  const transcribed = transcript.data != null;
  const [element, setElement] = useState<HTMLVideoElement | null>(null);
  useTitle(video.data ? videoName(video.data) : 'Video');

  if (video.isPending) return <Loading />;
  if (video.error instanceof ApiError && video.error.status === 404) return <NotFound what="video" />;
  if (video.isError) return <ErrorText error={video.error} />;

  const data = video.data;
  const name = videoName(data);
  const captions = transcript.data ? { language: transcript.data.language, jobId: transcript.data.job_id } : null;

  return (
    <article className="video-page" aria-labelledby="video-title">
      <header className="page-head">
        <div>
          <h1 id="video-title" className="file-name">
            {name}
          </h1>
          <p className="muted">
            <span className={`status status-${data.status}`}>{STATUS_WORDS[data.status]}</span>
          </p>
        </div>
        <DeleteVideo id={id} name={name} />
      </header>

      {data.status === 'ready' && (
        <div className="watch">
          <Player videoId={id} name={name} captions={captions} startAt={startAt} onElement={setElement} />
          {transcript.data ? (
            <Transcript transcript={transcript.data} video={element} baseName={name.replace(/\.[^.]+$/, '')} />
          ) : (
            <section className="card transcript" aria-labelledby="transcript-title">
              <h2 id="transcript-title">Transcript</h2>
              {transcript.isFetching ? <Loading /> : <p className="empty">No transcript yet: buy a transcription below.</p>}
              <ErrorText error={transcript.error} />
            </section>
          )}
        </div>
      )}
      {data.status === 'processing' && (
        <p className="card" role="status">
          Processing… the server is checking the video. It plays here as soon as it is ready.
        </p>
      )}
      {data.status === 'failed' && <p className="card error">{errorInWords(data.error) || 'This video could not be used.'}</p>}

      <div className="panels">
        <BuyJobs video={data} transcribed={transcribed} />
        {summary.data && <SummaryPanel summary={summary.data} video={element} />}
        <Jobs videoId={id} jobs={jobs.data ?? []} />
        <Details video={data} />
      </div>
    </article>
  );
}
