import { Link } from 'react-router';

import type { Video } from '../api';
import { errorInWords } from '../common/errorCodes';
import { formatDate, formatTime } from '../common/format';
import { useAuthBlobUrl } from '../common/useAuthBlobUrl';

export const STATUS_WORDS: Record<Video['status'], string> = {
  processing: 'Processing…',
  ready: 'Ready',
  failed: 'Failed',
};

/** The name a person knows a video by. */
export function videoName(video: Video): string {
  return video.filename ?? video.source_url ?? `Video ${video.id}`;
}

export function VideoItem({ video }: { video: Video }) {
  const thumbnail = useAuthBlobUrl(video.thumbnail_url);
  return (
    <li className="video-item" data-testid="video-item" data-video-id={video.id} data-status={video.status}>
      <div className="thumb">{thumbnail ? <img src={thumbnail} alt="" /> : <span aria-hidden="true">▶</span>}</div>
      <div className="video-info">
        <Link to={`/videos/${video.id}`} className="video-name">
          {videoName(video)}
        </Link>
        <p className="muted">
          {video.duration_seconds != null && <>{formatTime(video.duration_seconds)} · </>}
          <span className={`status status-${video.status}`}>{STATUS_WORDS[video.status]}</span>
          {' · '}
          <time dateTime={video.created_at}>{formatDate(video.created_at)}</time>
        </p>
        {video.error && <p className="error">{errorInWords(video.error)}</p>}
      </div>
    </li>
  );
}
