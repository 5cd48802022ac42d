import { type InfiniteData, type QueryClient, useInfiniteQuery } from '@tanstack/react-query';

import { listVideos, type Video } from '../api';
import { ErrorText } from '../common/ErrorText';
import { Loading } from '../common/Loading';
import { VideoItem } from './VideoItem';

type Pages = InfiniteData<{ data: Video[]; next_cursor?: string | null }, string | null>;

/** Put a video the API just made at the top of the list at once (as `processing`), then ask again. */
export function showNewVideo(queryClient: QueryClient, video: Video): void {
  queryClient.setQueryData<Pages>(['videos'], (list) => {
    if (!list || list.pages.length === 0) return list;
    const [first, ...rest] = list.pages;
    if (first!.data.some((known) => known.id === video.id)) return list;
    return { ...list, pages: [{ ...first!, data: [video, ...first!.data] }, ...rest] };
  });
  void queryClient.invalidateQueries({ queryKey: ['videos'] });
}

/** Take a deleted video out of the list at once, then ask again. */
export function forgetVideo(queryClient: QueryClient, id: number): void {
  queryClient.setQueryData<Pages>(['videos'], (list) =>
    list && { ...list, pages: list.pages.map((page) => ({ ...page, data: page.data.filter((video) => video.id !== id) })) },
  );
  void queryClient.invalidateQueries({ queryKey: ['videos'] });
}

/** The user's videos, newest first, a page at a time; asked again every 2 s while one is processing. */
export function VideoList() {
  const videos = useInfiniteQuery({
    queryKey: ['videos'],
    queryFn: ({ pageParam }) => listVideos(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor ?? undefined,
    refetchInterval: (query) =>
      query.state.data?.pages.some((page) => page.data.some((video) => video.status === 'processing'))
        ? 2000
        : false,
  });

  if (videos.isPending) return <Loading />;
  if (videos.isError) return <ErrorText error={videos.error} />;
  const items = videos.data.pages.flatMap((page) => page.data);
  return (
    <>
      {items.length === 0 ? (
        <p className="empty">No videos yet. Upload one or add one by link.</p>
      ) : (
        <ul className="video-list">
          {items.map((video) => (
            <VideoItem key={video.id} video={video} />
          ))}
        </ul>
      )}
      {videos.hasNextPage && (
        <button type="button" onClick={() => void videos.fetchNextPage()} disabled={videos.isFetchingNextPage}>
          {videos.isFetchingNextPage ? 'Loading…' : 'More videos'}
        </button>
      )}
    </>
  );
}
