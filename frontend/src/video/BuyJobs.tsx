import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { buyJob, getMe, type Job, type JobKind, listJobKinds, type Video } from '../api';
import { ErrorText } from '../common/ErrorText';
import { jobPrice } from '../common/format';

const BUY_WORDS: Record<string, string> = {
  transcribe: 'Transcribe',
  summarize: 'Summarize',
  extract_audio: 'Extract the audio',
};

interface Props {
  video: Video;
  transcribed: boolean;
}

/** Why this kind cannot be bought now, or null when it can. */
function refusal(kind: JobKind, video: Video, transcribed: boolean, credits: number | undefined, price: number): string | null {
  if (!kind.available) return 'Not available on this server: its AI provider is not configured.';
  if (video.status !== 'ready') return 'The video is not ready yet.';
  if (video.has_audio === false) return 'This video has no audio.';
  if (kind.kind === 'summarize' && !transcribed) return 'Transcribe the video first.';
  if (credits !== undefined && credits < price) return `Not enough credits: it costs ${price}, you have ${credits}.`;
  return null;
}

function BuyButton({ kind, video, transcribed }: { kind: JobKind } & Props) {
  const queryClient = useQueryClient();
  const me = useQuery({ queryKey: ['me'], queryFn: getMe });
  const [language, setLanguage] = useState('');
  const price = jobPrice(kind.price_per_minute, video.duration_seconds);
  const reason = refusal(kind, video, transcribed, me.data?.credits, price);
  const buy = useMutation({
    mutationFn: () => buyJob(video.id, kind.kind, kind.kind === 'transcribe' ? { language: language || null } : null),
    onSuccess: (job) => {
      queryClient.setQueryData<Job[]>(['jobs', video.id], (list) => [job, ...(list ?? [])]);
      void queryClient.invalidateQueries({ queryKey: ['me'] });
    },
  });
  const reasonId = `buy-${kind.kind}-reason`;
  const label = BUY_WORDS[kind.kind] ?? kind.kind;

  return (
    <li className="buy">
      <button
        type="button"
        className="primary"
        data-testid={`buy-${kind.kind}`}
        disabled={reason !== null}
        aria-disabled={buy.isPending || undefined}
        aria-describedby={reason ? reasonId : undefined}
        onClick={() => {
          // Not `disabled` while the purchase is sent: that would throw the keyboard focus away.
          if (!buy.isPending) buy.mutate();
        }}
      >
        {label} · {price} credit{price === 1 ? '' : 's'}
      </button>
      {kind.kind === 'transcribe' && kind.languages && kind.languages.length > 0 && (
        <label className="inline-label">
          Spoken language
          <select value={language} onChange={(event) => setLanguage(event.target.value)}>
            <option value="">Detect it</option>
            {kind.languages.map((code) => (
              <option key={code} value={code}>
                {code}
              </option>
            ))}
          </select>
        </label>
      )}
      {reason && (
        <p className="hint" id={reasonId}>
          {reason}
        </p>
      )}
      <ErrorText error={buy.error} />
    </li>
  );
}

/** Buy AI work on this video, at the price shown (per started minute of the video). */
export function BuyJobs(props: Props) {
  const kinds = useQuery({ queryKey: ['job-kinds'], queryFn: listJobKinds, staleTime: 5 * 60_000 });
  return (
    <section className="card" aria-labelledby="buy-title">
      <h2 id="buy-title">AI on this video</h2>
      <ErrorText error={kinds.error} />
      <ul className="buys">
        {kinds.data?.map((kind) => <BuyButton key={kind.kind} kind={kind} {...props} />)}
      </ul>
    </section>
  );
}
