// The measured figures that the e2e run can take (frontend/README.md, "Measured"):
//  - the first page's JavaScript, gzipped (target: at most 150 kB);
//  - a video with a 2,000-segment transcript (seeded by the global setup): time from navigation
//    (a full page load: session restore, the API's answers, the render) until the page is usable,
//    and from a click on a transcript line until the player is there and the line highlighted.
// Figures go to e2e-artifacts/measured.json and the test's annotations. The size is asserted;
// the two times are asserted against the targets with E2E_TIMING_FACTOR x slack (default 3:
// this machine's 2 cores are shared with other work, so a single slow run must not fail the
// suite; E2E_TIMING_FACTOR=1 holds them to the targets).
import { gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, test } from './support/fixtures';
import { ARTIFACTS } from './support/state';
import { logIn } from './support/ui';

const FACTOR = Number(process.env.E2E_TIMING_FACTOR ?? '3');
const RUNS = 5;
const figures: Record<string, unknown> = {};

// Playwright's trace snapshots walk the whole DOM at every action: on a 2,000-line page that
// alone blocks the page for tens of seconds. The figures are taken without it.
test.use({ trace: 'off' });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function record(name: string, value: unknown): void {
  figures[name] = value;
  test.info().annotations.push({ type: name, description: JSON.stringify(value) });
}

test.afterAll(() => {
  const file = join(ARTIFACTS, 'measured.json');
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    /* first figures of the run */
  }
  writeFileSync(file, JSON.stringify({ ...previous, ...figures, at: new Date().toISOString() }, null, 2));
});

test("the first page's JavaScript, gzipped, is at most 150 kB", async ({ page }) => {
  const scripts = new Map<string, number>();
  page.on('response', async (response) => {
    if (response.request().resourceType() === 'script' && response.ok()) {
      scripts.set(response.url(), gzipSync(await response.body(), { level: 9 }).length);
    }
  });
  await page.goto('/app/');
  await expect(page.getByTestId('login-email')).toBeVisible();
  await page.waitForLoadState('networkidle');
  const total = [...scripts.values()].reduce((sum, size) => sum + size, 0);
  record('first_page_js_gzip_bytes', total);
  record('first_page_js_files', [...scripts.entries()].map(([url, size]) => `${new URL(url).pathname} ${size}`));
  expect(scripts.size).toBeGreaterThan(0);
  expect(total).toBeLessThanOrEqual(150_000);
});

/** From the document's navigation start until the page is usable: the player knows its
 * duration, the transcript shows its lines, and the main thread is free (the end of the last
 * long task, once 500 ms have passed without one). */
async function usableAfter(page: Page, videoId: number): Promise<number> {
  await page.goto(`/app/videos/${videoId}`, { waitUntil: 'commit' });
  const shown = await page.waitForFunction(
    () => {
      const video = document.querySelector<HTMLVideoElement>('[data-testid="video-player"]');
      const lines = document.querySelectorAll('[data-testid="transcript-line"]');
      return video !== null && video.readyState >= 1 && lines.length > 0 ? performance.now() : 0;
    },
    null,
    { polling: 'raf', timeout: 30_000 },
  );
  const shownAt = (await shown.jsonValue()) as number;
  const quiet = await page.waitForFunction(
    () => {
      const ends = (window as unknown as { __longTasks: number[] }).__longTasks;
      const last = Math.max(0, ...ends);
      return performance.now() - last > 500 ? last || 1 : 0;
    },
    null,
    { polling: 100, timeout: 30_000 },
  );
  return Math.max(shownAt, (await quiet.jsonValue()) as number);
}

/** From the click event on a line until currentTime is its start and it is aria-current. */
async function clickToSeek(page: Page, start: number): Promise<number> {
  const line = page.locator(`[data-testid="transcript-line"][data-start="${start}"]`);
  await line.scrollIntoViewIfNeeded();
  await page.evaluate((target) => {
    const state = window as unknown as { __seek?: Promise<number> };
    state.__seek = new Promise<number>((resolve) => {
      document.addEventListener(
        'click',
        (event) => {
          const clickedAt = event.timeStamp;
          const check = () => {
            const video = document.querySelector<HTMLVideoElement>('[data-testid="video-player"]')!;
            const current = document.querySelector<HTMLElement>('[data-testid="transcript-line"][aria-current="true"]');
            if (Math.abs(video.currentTime - target) <= 0.25 && Number(current?.dataset.start) === target) {
              resolve(performance.now() - clickedAt);
            } else {
              requestAnimationFrame(check);
            }
          };
          check();
        },
        { capture: true, once: true },
      );
    });
  }, start);
  await line.click();
  return page.evaluate(() => (window as unknown as { __seek: Promise<number> }).__seek);
}

test('a 2,000-segment transcript: usable within 1 s of navigation, a line seeks within 100 ms', async ({ page, data, shot }) => {
  test.setTimeout(180_000);
  await page.addInitScript(() => {
    const ends: number[] = [];
    (window as unknown as { __longTasks: number[] }).__longTasks = ends;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) ends.push(entry.startTime + entry.duration);
    }).observe({ type: 'longtask', buffered: true });
  });
  await logIn(page, data.reader.email, data.password);
  const usable: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    await page.goto('/app/videos');
    await expect(page.getByTestId('video-item').first()).toBeVisible();
    usable.push(await usableAfter(page, data.reader.videoId));
  }
  const lines = page.getByTestId('transcript-line');
  await expect(lines).toHaveCount(data.reader.segments);
  await shot('2,000-segment transcript');

  const seeks: number[] = [];
  for (const k of [1500, 3, 1999, 1000, 250]) {
    const start = k * 0.5;
    seeks.push(await clickToSeek(page, start));
    await expect(page.locator('[data-testid="transcript-line"][aria-current="true"]')).toHaveAttribute('data-start', String(start));
  }
  await shot('after the clicks');
  record('long_transcript_usable_ms', { median: median(usable), runs: usable.map(Math.round) });
  record('long_transcript_click_to_seek_ms', { median: median(seeks), runs: seeks.map((ms) => Math.round(ms * 10) / 10) });
  expect(median(usable), `usable (ms) after navigation, runs ${usable}`).toBeLessThanOrEqual(1000 * FACTOR);
  expect(median(seeks), `click to seek and highlight (ms), runs ${seeks}`).toBeLessThanOrEqual(100 * FACTOR);
});
