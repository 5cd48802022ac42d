// The upload figure, out of the default run (E2E_BENCH=1: `make bench-webapp`): a
// 1 GiB file uploaded through the app (its file input, XMLHttpRequest) against curl's
// multipart upload of the same file to the same server, ROUNDS rounds alternating; each
// round's ratio, then their median.
// Target: the app's throughput at least 0.8 of curl's, the browser's memory flat (the file is
// streamed from disk, never read into the page). Memory: the summed RSS of the browser's
// processes (every descendant of this worker process), sampled every 100 ms during the upload,
// as growth over its value just before. A third contestant tells the app's share from the
// browser's: a bare XMLHttpRequest of the same file in the same page (an <input> of its own,
// FormData, no progress handler), the ceiling of any web app in this Chromium.
// Figures: e2e-artifacts/bench-upload.json.
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Response } from '@playwright/test';
import { Api } from './support/api';
import { expect, test } from './support/fixtures';
import { ARTIFACTS } from './support/state';
import { logIn, newEmail } from './support/ui';

// Playwright's trace would record the upload's request (and its body) and slow it down.
test.use({ trace: 'off' });

const SIZE = Number(process.env.BENCH_UPLOAD_MIB ?? '1024') * 1024 * 1024;
const ROUNDS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** From the request's start to its answer's last byte, as the browser timed it: the same
 * clock for the app and the bare request, whatever Playwright's own delays. */
async function requestSeconds(response: Response): Promise<number> {
  await response.finished();
  return response.request().timing().responseEnd / 1000;
}

/** The RSS (KiB) of every process descending from `root`. */
function treeRss(root: number): number {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const inTree = (pid: number): boolean => {
    for (let at = parents.get(pid); at !== undefined && at > 1; at = parents.get(at)) if (at === root) return true;
    return false;
  };
  let total = 0;
  for (const pid of parents.keys()) {
    if (!inTree(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return total;
}

test('a 1 GiB upload through the app vs curl: throughput ratio and browser memory', async ({ page, data }) => {
  test.setTimeout(1_800_000);
  const email = newEmail('bench');
  const api = await Api.register(data.baseURL, email, data.password);
  // A real MP4's first 4 KiB (the upload checks the container), then zeros: a sparse file.
  const file = join(tmpdir(), `bench-upload-${process.pid}.mp4`);
  const fd = openSync(file, 'w');
  writeSync(fd, readFileSync(data.media.speech).subarray(0, 4096));
  ftruncateSync(fd, SIZE);
  closeSync(fd);
  await logIn(page, email, data.password);
  await page.goto('/app/videos');
  const app: number[] = [];
  const curl: number[] = [];
  const bare: number[] = [];
  const memory: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Through the app.
      const before = treeRss(process.pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, treeRss(process.pid))), 100);
      const answer = page.waitForResponse(
        (response) => response.url().endsWith('/videos/upload') && response.request().method() === 'POST',
        { timeout: 1_200_000 },
      );
      await page.getByTestId('upload-input').setInputFiles(file);
      const response = await answer;
      const seconds = await requestSeconds(response);
      clearInterval(sampler);
      expect(response.status()).toBe(201);
      const video = (await response.json()) as { id: number; size_bytes: number };
      expect(video.size_bytes).toBe(SIZE);
      app.push(SIZE / 1048576 / seconds);
      memory.push((peak - before) / 1024);
      await api.fetch(`/videos/${video.id}`, { method: 'DELETE' });

      // A bare XMLHttpRequest in the same page: the browser's own ceiling.
      await page.evaluate(() => {
        const input = document.createElement('input');
        input.type = 'file';
        input.id = 'bench-bare-input';
        input.hidden = true;
        document.body.append(input);
      });
      await page.locator('#bench-bare-input').setInputFiles(file);
      const bareAnswer = page.waitForResponse(
        (response) => response.url().endsWith('/videos/upload') && response.request().method() === 'POST',
        { timeout: 1_200_000 },
      );
      await page.evaluate(async (token) => {
        const input = document.getElementById('bench-bare-input') as HTMLInputElement;
        const form = new FormData();
        form.append('file', input.files![0]!);
        const status = await new Promise<number>((resolve, reject) => {
          const xhr = new XMLHttpRequest();
          xhr.open('POST', '/videos/upload');
          xhr.setRequestHeader('Authorization', `Bearer ${token}`);
          xhr.onload = () => resolve(xhr.status);
          xhr.onerror = () => reject(new Error('upload failed'));
          xhr.send(form);
        });
        input.remove();
        if (status !== 201) throw new Error(`bare upload: ${status}`);
      }, await api.accessToken());
      bare.push(SIZE / 1048576 / (await requestSeconds(await bareAnswer)));

      // curl, the same file, the same server.
      const out = execFileSync(
        'curl',
        [
          '-sS', '-f', '-o', '/dev/null', '-w', '%{time_total}',
          '-H', `Authorization: Bearer ${await api.accessToken()}`,
          '-F', `file=@${file};type=video/mp4`,
          `${data.baseURL}/videos/upload`,
        ],
        { encoding: 'utf8' },
      );
      curl.push(SIZE / 1048576 / Number(out));
      for (const listed of (await api.json<{ data: { id: number }[] }>('/videos?limit=100')).data) {
        await api.fetch(`/videos/${listed.id}`, { method: 'DELETE' });
      }
      console.log(
        `round ${round}: app ${app.at(-1)!.toFixed(0)} MiB/s, bare XHR ${bare.at(-1)!.toFixed(0)} MiB/s, ` +
          `curl ${curl.at(-1)!.toFixed(0)} MiB/s, ` +
          `browser RSS growth ${memory.at(-1)!.toFixed(1)} MiB`,
      );
    }
  } finally {
    rmSync(file, { force: true });
  }
  const figures = {
    upload_mib: SIZE / 1048576,
    app_mib_per_s: median(app),
    curl_mib_per_s: median(curl),
    bare_xhr_mib_per_s: median(bare),
    // Ratios paired by round (the machine's load drifts between rounds), then the median.
    ratio: median(app.map((value, k) => value / curl[k]!)),
    app_vs_bare_xhr: median(app.map((value, k) => value / bare[k]!)),
    bare_xhr_vs_curl: median(bare.map((value, k) => value / curl[k]!)),
    browser_rss_growth_mib: median(memory),
    rounds: { app, bare, curl, memory },
  };
  console.log(JSON.stringify(figures));
  writeFileSync(join(ARTIFACTS, 'bench-upload.json'), JSON.stringify({ ...figures, at: new Date().toISOString() }, null, 2));
  test.info().annotations.push({ type: 'bench-upload', description: JSON.stringify(figures) });
  expect(figures.ratio, 'app / curl upload throughput').toBeGreaterThanOrEqual(0.8);
  expect(figures.browser_rss_growth_mib, 'browser RSS growth during the upload (MiB)').toBeLessThan(100);
});
