import { useInfiniteQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';

import { search } from '../api';
import { ErrorText } from '../common/ErrorText';
import { formatTime } from '../common/format';
import { Loading } from '../common/Loading';
import { useTitle } from '../common/useTitle';
import { Highlighted } from './Highlighted';

/** `/app/search?q=`: where words were said across the user's transcripts. */
export default function SearchPage() {
  const [params] = useSearchParams();
  const q = params.get('q')?.trim() ?? '';
  useTitle(q ? `Search: ${q}` : 'Search');

  const hits = useInfiniteQuery({
    queryKey: ['search', q],
    queryFn: ({ pageParam }) => search(q, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor ?? undefined,
    enabled: q !== '',
  });

  const items = hits.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">{q ? `Search: ${q}` : 'Search your videos'}</h1>
      <p className="hint">
        {q === '' ? 'Type words in the search box at the top of the page and press Enter. ' : ''}
        All words must match; use "quoted phrases" and prefix* (2+ letters).
      </p>
      {q !== '' && hits.isPending && <Loading label="Searching…" />}
      <ErrorText error={hits.error} />
      {hits.isSuccess && items.length === 0 && (
        <p className="empty" data-testid="search-empty" role="status">
          Nothing found for “{q}”.
        </p>
      )}
      {items.length > 0 && (
        <>
          <p role="status" className="muted">
            {items.length}
            {hits.hasNextPage ? '+' : ''} result{items.length === 1 ? '' : 's'} for “{q}”
          </p>
          <ol className="hits">
            {items.map((hit) => (
              <li key={`${hit.video_id}-${hit.start}-${hit.job_id}`}>
                <Link
                  className="hit"
                  to={`/videos/${hit.video_id}?t=${hit.start}`}
                  data-testid="search-hit"
                  data-video-id={hit.video_id}
                  data-start={hit.start}
                >
                  <span className="hit-where">
                    <span className="file-name">{hit.filename ?? `Video ${hit.video_id}`}</span> at {formatTime(hit.start)}
                  </span>
                  <span className="hit-text">
                    <Highlighted text={hit.text} highlights={hit.highlights} />
                  </span>
                </Link>
              </li>
            ))}
          </ol>
          {hits.hasNextPage && (
            <button type="button" onClick={() => void hits.fetchNextPage()} disabled={hits.isFetchingNextPage}>
              {hits.isFetchingNextPage ? 'Loading…' : 'More results'}
            </button>
          )}
        </>
      )}
    </section>
  );
}
