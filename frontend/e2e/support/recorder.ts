// A recorder installed in the page before the app's own scripts (on every navigation): a
// MutationObserver that notes each value the contract's live hooks take, with its time, so a
// test can say "the bar showed these values, in this order" however fast they changed.
//   upload:  aria-valuenow of `upload-progress`
//   videos:  "id:status" of each `video-item`, in the order first seen
//   jobs:    per data-job-id, the data-status values and job-progress aria-valuenow values
// Read with readRecorder(page) before leaving or reloading the page (a navigation starts anew).
import type { Page } from '@playwright/test';

export interface Recorded {
  upload: { value: number; at: number }[];
  videos: string[];
  jobs: Record<string, { statuses: string[]; progress: number[] }>;
}

function install(): void {
  const seen: Recorded = { upload: [], videos: [], jobs: {} };
  (window as unknown as { __e2e: Recorded }).__e2e = seen;
  const record = () => {
    const bar = document.querySelector('[data-testid="upload-progress"]');
    const value = bar?.getAttribute('aria-valuenow');
    if (value != null && value !== '' && seen.upload.at(-1)?.value !== Number(value)) {
      seen.upload.push({ value: Number(value), at: performance.now() });
    }
    for (const item of document.querySelectorAll<HTMLElement>('[data-testid="video-item"]')) {
      const key = `${item.dataset.videoId}:${item.dataset.status}`;
      if (!seen.videos.includes(key)) seen.videos.push(key);
    }
    for (const item of document.querySelectorAll<HTMLElement>('[data-testid="job-item"]')) {
      const id = item.dataset.jobId ?? '?';
      const job = (seen.jobs[id] ??= { statuses: [], progress: [] });
      const status = item.dataset.status ?? '';
      if (job.statuses.at(-1) !== status) job.statuses.push(status);
      const progress = item.querySelector('[data-testid="job-progress"]')?.getAttribute('aria-valuenow');
      if (progress != null && progress !== '' && job.progress.at(-1) !== Number(progress)) {
        job.progress.push(Number(progress));
      }
    }
  };
  new MutationObserver(record).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ['aria-valuenow', 'data-status', 'data-testid'],
  });
}

export async function installRecorder(page: Page): Promise<void> {
  await page.addInitScript(install);
}

export async function readRecorder(page: Page): Promise<Recorded> {
  return page.evaluate(() => (window as unknown as { __e2e: Recorded }).__e2e);
}
