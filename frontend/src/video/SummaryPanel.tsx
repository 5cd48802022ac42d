import type { Summary } from '../api';
import { formatTime } from '../common/format';
import { seek } from './seek';

/** The summary, its keywords, and chapters that seek the player to their start. */
export function SummaryPanel({ summary, video }: { summary: Summary; video: HTMLVideoElement | null }) {
  return (
    <section className="card" aria-labelledby="summary-title">
      <h2 id="summary-title">Summary</h2>
      <p data-testid="summary-text" className="summary-text">
        {summary.summary}
      </p>
      {summary.keywords.length > 0 && (
        <>
          <h3>Keywords</h3>
          <ul className="keywords">
            {summary.keywords.map((keyword) => (
              <li key={keyword}>{keyword}</li>
            ))}
          </ul>
        </>
      )}
      {summary.chapters.length > 0 && (
        <>
          <h3>Chapters</h3>
          <ol className="chapters">
            {summary.chapters.map((chapter) => (
              <li key={chapter.start}>
                <button type="button" className="line" data-testid="chapter" data-start={chapter.start} onClick={() => seek(video, chapter.start)}>
                  <span className="line-time">{formatTime(chapter.start)}</span> {chapter.title}
                </button>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
