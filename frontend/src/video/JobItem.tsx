import { useMutation } from '@tanstack/react-query';
import { useEffect } from 'react';

import { cancelJob, followJob, type Job } from '../api';
import { errorInWords } from '../common/errorCodes';
import { ErrorText } from '../common/ErrorText';
import { download } from '../common/download';
import { formatDate } from '../common/format';
import { ProgressBar } from '../common/ProgressBar';

const FINAL = new Set(['succeeded', 'failed', 'canceled']);

const KIND_WORDS: Record<string, string> = {
  ingest: 'Upload check',
  transcribe: 'Transcription',
  summarize: 'Summary',
  extract_audio: 'Audio extraction',
};

const STATUS_WORDS: Record<Job['status'], string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
};

export function isFinished(job: Job): boolean {
  return FINAL.has(job.status);
}

interface Props {
  job: Job;
  /** Each state the event stream brings. */
  onUpdate: (job: Job) => void;
  /** The stream could not be kept: ask for the job's state instead. */
  onLost: () => void;
}

/** One job, live: while it is queued or running its event stream is open (one per job). */
export function JobItem({ job, onUpdate, onLost }: Props) {
  const finished = isFinished(job);
  useEffect(() => {
    if (finished) return undefined;
    const follower = followJob(job.id, onUpdate, onLost);
    return follower.close;
  }, [job.id, finished, onUpdate, onLost]);

  const cancel = useMutation({ mutationFn: () => cancelJob(job.id), onSuccess: onUpdate });
  const percent = Math.round(job.progress * 100);
  const kind = KIND_WORDS[job.kind] ?? job.kind;

  return (
    <li className={`job job-${job.status}`} data-testid="job-item" data-job-id={job.id} data-kind={job.kind} data-status={job.status}>
      <div className="job-head">
        <strong>{kind}</strong>
        <span className={`status status-${job.status}`}>{STATUS_WORDS[job.status]}</span>
        {job.stage && !finished && <span className="muted">{job.stage}</span>}
        <span className="muted">{percent}%</span>
      </div>
      <ProgressBar value={job.progress} label={`${kind} progress`} testId="job-progress" />
      <p className="muted small-print">
        Started <time dateTime={job.created_at}>{formatDate(job.created_at)}</time>
        {job.credits_charged > 0 && (
          <>
            {' · '}
            {job.credits_charged} credit{job.credits_charged === 1 ? '' : 's'}
            {job.status === 'failed' || job.status === 'canceled' ? ' (refunded)' : ''}
          </>
        )}
      </p>
      {job.error && job.error.code !== 'canceled' && (
        <p className="error">
          {errorInWords(job.error)} <span className="muted">({job.error.code}: {job.error.message})</span>
        </p>
      )}
      {!finished && (
        <button type="button" className="small" onClick={() => cancel.mutate()} disabled={cancel.isPending} aria-label={`Cancel ${kind.toLowerCase()}`}>
          Cancel
        </button>
      )}
      {job.status === 'succeeded' && job.kind === 'extract_audio' && (
        <button type="button" className="small" onClick={() => void download(`/jobs/${job.id}/result`, `audio-${job.video_id}.flac`)}>
          Download the audio
        </button>
      )}
      <ErrorText error={cancel.error} />
    </li>
  );
}
