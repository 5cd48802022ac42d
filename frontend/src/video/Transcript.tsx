import { type MouseEvent, useDeferredValue, useMemo, useRef, useState } from 'react';

import type { Transcript as TranscriptData } from '../api';
import { ErrorText } from '../common/ErrorText';
import { download } from '../common/download';
import { formatTime } from '../common/format';
import { seek } from './seek';
import { useFollowPlayback } from './useFollowPlayback';

interface Props {
  transcript: TranscriptData;
  video: HTMLVideoElement | null;
  baseName: string;
}

const FIRST_LINES = 100;

/**
 * The transcript beside the player. The lines render once per transcript (memoised), so a
 * 2,000-line transcript costs nothing per tick: useFollowPlayback marks the spoken line on the DOM.
 * The first lines show at once; the rest follow in a background render that yields to the
 * browser (useDeferredValue), so the page is usable before a long transcript is all in.
 */
export function Transcript({ transcript, video, baseName }: Props) {
  const listRef = useRef<HTMLOListElement>(null);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const all = transcript.segments;
  const head = useMemo(() => all.slice(0, FIRST_LINES), [all]);
  const segments = useDeferredValue(all, head);
  const starts = useMemo(() => Float64Array.from(segments, (segment) => segment.start), [segments]);
  const mark = useFollowPlayback(video, listRef, starts);

  const lines = useMemo(
    () =>
      segments.map((segment, index) => (
        <li key={index}>
          <button
            type="button"
            className="line"
            data-testid="transcript-line"
            data-index={index}
            data-start={segment.start}
            data-end={segment.end}
          >
            <span className="line-time">{formatTime(segment.start)}</span> {segment.text.trim()}
          </button>
        </li>
      )),
    [segments],
  );

  // One handler for every line (Enter and Space on a button are clicks too).
  const onClick = (event: MouseEvent<HTMLOListElement>) => {
    const line = (event.target as HTMLElement).closest<HTMLElement>('[data-index]');
    if (!line) return;
    const index = Number(line.dataset.index);
    mark(index);
    seek(video, segments[index]!.start);
  };

  const save = (format: 'vtt' | 'srt') => {
    setDownloadError(null);
    download(`/videos/${transcript.video_id}/captions?format=${format}`, `${baseName}.${format}`).catch(setDownloadError);
  };

  return (
    <section className="card transcript" aria-labelledby="transcript-title">
      <div className="section-head">
        <h2 id="transcript-title">Transcript</h2>
        <div className="buttons">
          <button type="button" className="small" onClick={() => save('vtt')}>
            Download VTT
          </button>
          <button type="button" className="small" onClick={() => save('srt')}>
            Download SRT
          </button>
        </div>
      </div>
      <ErrorText error={downloadError} />
      <p className="muted small-print">
        {all.length} lines · language {transcript.language} · {transcript.provider} {transcript.model}
      </p>
      {all.length === 0 ? (
        <p className="empty">No speech was found.</p>
      ) : (
        <ol className="lines" ref={listRef} onClick={onClick} tabIndex={-1} aria-label="Transcript lines: activate one to play from there">
          {lines}
        </ol>
      )}
    </section>
  );
}
