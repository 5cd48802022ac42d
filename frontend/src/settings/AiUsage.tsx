import { useInfiniteQuery } from '@tanstack/react-query';

import { listAiUsage } from '../api';
import { ErrorText } from '../common/ErrorText';
import { formatDate } from '../common/format';
import { Loading } from '../common/Loading';

/** Each AI provider call made for the user (GET /me/ai-usage), newest first. */
export function AiUsage() {
  const usage = useInfiniteQuery({
    queryKey: ['ai-usage'],
    queryFn: ({ pageParam }) => listAiUsage(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });
  const rows = usage.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <section className="card" aria-labelledby="usage-title">
      <h2 id="usage-title">AI usage</h2>
      {usage.isPending && <Loading />}
      <ErrorText error={usage.error} />
      {usage.isSuccess && rows.length === 0 && <p className="empty">No AI calls yet.</p>}
      {rows.length > 0 && (
        <div className="table-wrap" role="region" aria-label="AI calls, scrollable" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Provider</th>
                <th scope="col">Model</th>
                <th scope="col">Job</th>
                <th scope="col">Audio (s)</th>
                <th scope="col">Tokens in / out</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.id}>
                  <td>{formatDate(row.created_at)}</td>
                  <td>{row.provider}</td>
                  <td>{row.model}</td>
                  <td>{row.job_id ?? '–'}</td>
                  <td>{row.audio_seconds != null ? row.audio_seconds.toFixed(1) : '–'}</td>
                  <td>
                    {row.tokens_input} / {row.tokens_output}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {usage.hasNextPage && (
        <button type="button" onClick={() => void usage.fetchNextPage()} disabled={usage.isFetchingNextPage}>
          More
        </button>
      )}
    </section>
  );
}
