import { useQueryClient } from '@tanstack/react-query';
import { useCallback } from 'react';

import type { Job } from '../api';
import { isFinished, JobItem } from './JobItem';

interface Props {
  videoId: number;
  jobs: Job[];
}

/** The video's jobs, newest first, each following its own event stream while it runs. */
export function Jobs({ videoId, jobs }: Props) {
  const queryClient = useQueryClient();

  const onUpdate = useCallback(
    (job: Job) => {
      const before = queryClient.getQueryData<Job[]>(['jobs', videoId])?.find((known) => known.id === job.id);
      queryClient.setQueryData<Job[]>(['jobs', videoId], (list) => list?.map((known) => (known.id === job.id ? job : known)));
      if (isFinished(job) && !(before && isFinished(before))) {
        // What a finished job changes: the video (ingest), credits (refunds), its results.
        void queryClient.invalidateQueries({ queryKey: ['video', videoId] });
        void queryClient.invalidateQueries({ queryKey: ['videos'] });
        void queryClient.invalidateQueries({ queryKey: ['me'] });
        void queryClient.invalidateQueries({ queryKey: ['transcript', videoId] });
        void queryClient.invalidateQueries({ queryKey: ['summary', videoId] });
        if (job.kind === 'ingest') void queryClient.invalidateQueries({ queryKey: ['playback', videoId] });
      }
    },
    [queryClient, videoId],
  );

  const onLost = useCallback(() => void queryClient.invalidateQueries({ queryKey: ['jobs', videoId] }), [queryClient, videoId]);

  return (
    <section className="card" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      {jobs.length === 0 ? (
        <p className="empty">No jobs yet.</p>
      ) : (
        <ul className="jobs">
          {jobs.map((job) => (
            <JobItem key={job.id} job={job} onUpdate={onUpdate} onLost={onLost} />
          ))}
        </ul>
      )}
    </section>
  );
}
