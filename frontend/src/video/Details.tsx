import type { Video } from '../api';
import { formatBytes, formatDate, formatTime } from '../common/format';

/** What the probe found (nothing invented: unknown values are left out). */
export function Details({ video }: { video: Video }) {
  const rows: [string, string | null][] = [
    ['Duration', video.duration_seconds != null ? formatTime(video.duration_seconds) : null],
    ['Picture', video.width && video.height ? `${video.width} × ${video.height}${video.fps ? ` at ${Math.round(video.fps * 100) / 100} fps` : ''}` : null],
    ['Codecs', [video.video_codec, video.audio_codec].filter(Boolean).join(' + ') || null],
    ['Sound', video.has_audio == null ? null : video.has_audio ? 'Yes' : 'No audio track'],
    ['Size', video.size_bytes != null ? formatBytes(video.size_bytes) : null],
    ['Type', video.content_type],
    ['From', video.origin === 'link' ? video.source_url : 'Upload'],
    ['Added', formatDate(video.created_at)],
  ];
  return (
    <section className="card" aria-labelledby="details-title">
      <h2 id="details-title">Details</h2>
      <dl className="details">
        {rows
          .filter((row): row is [string, string] => row[1] !== null)
          .map(([term, value]) => (
            <div key={term}>
              <dt>{term}</dt>
              <dd>{value}</dd>
            </div>
          ))}
      </dl>
    </section>
  );
}
