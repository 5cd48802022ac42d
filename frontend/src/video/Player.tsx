import { useQuery } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';

import { getPlayback } from '../api';

/** The playback URL's query, shared by the page (which asks early) and the player. */
export const playbackQuery = (videoId: number) => ({
  queryKey: ['playback', videoId],
  queryFn: () => getPlayback(videoId),
  staleTime: Infinity,
  retry: false,
});
import { ErrorText } from '../common/ErrorText';
import { useAuthBlobUrl } from '../common/useAuthBlobUrl';
import { seek } from './seek';

interface Props {
  videoId: number;
  name: string;
  /** The transcript's language and job, when there is one: its captions go in a <track>. */
  captions: { language: string; jobId: number } | null;
  /** `?t=` of the page: where to start. */
  startAt: number | null;
  onElement: (element: HTMLVideoElement | null) => void;
}

/**
 * The native player. Its source is a short-lived signed URL (`POST /videos/{id}/playback`: a
 * <video> cannot send the bearer token); when that URL has expired, a new one is asked for and
 * playback resumes where it was.
 */
export function Player({ videoId, name, captions, startAt, onElement }: Props) {
  const playback = useQuery(playbackQuery(videoId));
  // Captions once the player knows its duration: not competing with the video's first bytes.
  const [hasMetadata, setHasMetadata] = useState(false);
  const captionsUrl = useAuthBlobUrl(
    captions && hasMetadata ? `/videos/${videoId}/captions?format=vtt` : null,
    captions?.jobId,
  );
  const element = useRef<HTMLVideoElement | null>(null);
  const resumeAt = useRef<number | null>(null);
  const renewed = useRef(0);

  const hasSource = playback.data !== undefined;
  useEffect(() => {
    if (startAt !== null && hasSource) seek(element.current, startAt);
  }, [startAt, hasSource]);

  const setElement = useCallback(
    (node: HTMLVideoElement | null) => {
      element.current = node;
      onElement(node);
    },
    [onElement],
  );

  // Captions on by default (a <track> added after the video loaded is not picked by itself).
  const showTrack = useCallback((node: HTMLTrackElement | null) => {
    if (node) node.track.mode = 'showing';
  }, []);

  const onError = () => {
    const video = element.current;
    // An expired or refused URL: ask for a fresh one (not in a loop).
    if (!video || renewed.current >= 2 || video.error?.code === MediaError.MEDIA_ERR_DECODE) return;
    renewed.current += 1;
    resumeAt.current = video.currentTime;
    void playback.refetch();
  };

  const onLoadedMetadata = () => {
    setHasMetadata(true);
    if (resumeAt.current !== null) {
      seek(element.current, resumeAt.current);
      resumeAt.current = null;
    }
  };

  return (
    <div className="player">
      <video
        ref={setElement}
        data-testid="video-player"
        controls
        preload="metadata"
        src={playback.data?.url}
        aria-label={`Player: ${name}`}
        onError={onError}
        onLoadedMetadata={onLoadedMetadata}
      >
        {captions && captionsUrl && (
          <track ref={showTrack} kind="captions" src={captionsUrl} srcLang={captions.language} label={`Captions (${captions.language})`} default />
        )}
      </video>
      <ErrorText error={playback.error} />
    </div>
  );
}
