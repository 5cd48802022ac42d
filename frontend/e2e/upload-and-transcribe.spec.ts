// The main flow of a new user: an upload under throttled bandwidth with its progress bar, then
// "processing", then the ready video; a transcription bought after the access token expired,
// followed live over the event stream, through a page reload (whose first stream connection
// carries the expired token), to `succeeded`.
import type { Request } from '@playwright/test';
import { Api } from './support/api';
import { expect, test } from './support/fixtures';
import { installRecorder, readRecorder } from './support/recorder';
import { newEmail, signUp, videoItem } from './support/ui';

const UPLOAD_BYTES_PER_SECOND = 64 * 1024; // story.mp4 (~630 KiB) takes about 10 s

test('upload with progress, processing, ready; a transcription followed live through a reload and a token expiry', async ({
  page,
  context,
  data,
  shot,
  axe,
}) => {
  test.setTimeout(300_000);
  await installRecorder(page);
  const email = newEmail('flow');
  // The first access token the app uses: long expired by the time of the reload below.
  let firstToken: string | null = null;
  page.on('request', async (request) => {
    const authorization = await request.headerValue('authorization');
    if (firstToken === null && authorization?.startsWith('Bearer ')) firstToken = authorization;
  });
  await signUp(page, email, data.password);
  const signedUpAt = Date.now();
  const api = new Api(data.baseURL, email, data.password);
  await expect(page).toHaveURL(/\/app\/videos$/);
  await shot('videos page, empty');

  // --- the upload, throttled by the browser's own network emulation
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 10,
    downloadThroughput: -1,
    uploadThroughput: UPLOAD_BYTES_PER_SECOND,
  });
  const uploaded = page.waitForResponse(
    (response) => response.url().endsWith('/videos/upload') && response.request().method() === 'POST',
    { timeout: 60_000 },
  );
  await page.getByTestId('upload-input').setInputFiles(data.media.story);
  await expect(page.getByTestId('upload-progress')).toBeVisible();
  await expect(page.getByTestId('upload-progress')).toHaveAttribute('role', 'progressbar');
  await page.waitForTimeout(2000);
  await shot('uploading');
  const answer = await uploaded;
  expect(answer.status()).toBe(201);
  const videoId = ((await answer.json()) as { id: number }).id;
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  const item = videoItem(page, videoId);
  await expect(item).toBeVisible();
  await expect(item).toHaveAttribute('data-status', 'ready', { timeout: 60_000 });
  await shot('the video is ready');

  const seen = await readRecorder(page);
  const values = seen.upload.map((entry) => entry.value);
  test.info().annotations.push({ type: 'upload-progress', description: values.join(' ') });
  const between = new Set(values.filter((value) => value > 0 && value < 100));
  expect(between.size, `distinct upload-progress values strictly between 0 and 100: ${values}`).toBeGreaterThanOrEqual(3);
  expect(values, 'upload-progress never goes back').toEqual([...values].sort((a, b) => a - b));
  expect(values.every((value) => value >= 0 && value <= 100)).toBe(true);
  const processing = seen.videos.indexOf(`${videoId}:processing`);
  const ready = seen.videos.indexOf(`${videoId}:ready`);
  expect(processing, `video-item statuses seen: ${seen.videos}`).toBeGreaterThanOrEqual(0);
  expect(ready).toBeGreaterThan(processing);
  const probe = await api.video(videoId);
  expect(probe.status).toBe('ready');

  // --- the video page; the purchase comes after the sign-up's access token has expired
  await item.getByRole('link').first().click();
  await expect(page).toHaveURL(new RegExp(`/app/videos/${videoId}(\\?|$)`));
  await expect(page.getByTestId('video-player')).toBeVisible();
  await shot('video page before the purchase');
  // Past the lifetime and the API's 5 s of clock leeway, with a margin.
  const expiry = signedUpAt + data.accessTokenMinutes * 60_000 + 10_000 - Date.now();
  if (expiry > 0) await page.waitForTimeout(expiry);
  const refreshes: string[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/auth/refresh') refreshes.push(request.url());
  });
  const buy = page.getByTestId('buy-transcribe');
  await expect(buy).toBeEnabled();
  const created = page.waitForResponse(
    (response) =>
      response.url().endsWith(`/videos/${videoId}/jobs`) &&
      response.request().method() === 'POST' &&
      response.status() === 202,
  );
  await buy.click();
  const bought = (await (await created).json()) as { id: number; credits_charged: number };
  const jobId = bought.id;
  expect(bought.credits_charged).toBeGreaterThan(0);
  await expect(page.getByTestId('credits')).toHaveText(new RegExp(`(^|\\D)${1000 - bought.credits_charged}(\\D|$)`));
  expect(page.url(), 'still in the app after the token expired').toContain(`/app/videos/${videoId}`);
  const job = page.locator(`[data-testid="job-item"][data-job-id="${jobId}"]`);
  await expect(job).toBeVisible();
  await expect(job).toHaveAttribute('data-kind', 'transcribe');
  await expect(job.getByTestId('job-progress')).toHaveAttribute('role', 'progressbar');

  // Live: two different progress values while it runs, without any reload.
  await expect
    .poll(async () => new Set((await readRecorder(page)).jobs[jobId]?.progress ?? []).size, {
      message: 'job-progress moves while the job runs',
      timeout: 60_000,
      intervals: [100],
    })
    .toBeGreaterThanOrEqual(2);
  await shot('transcription running');
  const beforeReload = await readRecorder(page);
  const jobNow = await api.json<{ status: string }>(`/jobs/${jobId}`);
  expect(jobNow.status, 'the job still runs when the page is reloaded').toBe('running');
  // The sign-up's token has expired: the purchase went through only because the app renewed it.
  test.info().annotations.push({ type: 'refreshes-before-reload', description: String(refreshes.length) });

  // --- a reload while the job runs: the session comes back, the stream opens again
  const streams = new Map<Request, { opened: number; ended?: string }>();
  const ended = (request: Request) => {
    const stream = streams.get(request);
    // Ended: the server closed it (finished), or the app let go of it (aborted).
    if (stream) stream.ended = `${request.failure()?.errorText ?? 'finished'} after ${Date.now() - stream.opened} ms`;
  };
  page.on('request', (request) => {
    if (request.url().includes(`/jobs/${jobId}/events`)) streams.set(request, { opened: Date.now() });
  });
  page.on('requestfinished', ended);
  page.on('requestfailed', ended);
  // The stream's first connection after the reload carries that expired token (as a stream
  // would after a laptop's sleep): the API answers 401; the app must refresh once and connect
  // again, resuming the job.
  expect(firstToken, 'the app sent a bearer token').not.toBeNull();
  let swapped = false;
  await page.route(`**/jobs/${jobId}/events`, async (route) => {
    if (swapped) return route.continue();
    swapped = true;
    await route.continue({ headers: { ...route.request().headers(), authorization: firstToken! } });
  });
  const answers: string[] = [];
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (path === `/jobs/${jobId}/events` || path === '/auth/refresh') answers.push(`${response.status()} ${path}`);
  });
  const reloadedAt = Date.now();
  await page.reload();
  await expect(page.getByTestId('logout')).toBeVisible();
  await expect(job).toHaveAttribute('data-status', 'succeeded', { timeout: 120_000 });
  // A finished job may keep its bar (then full) or drop it.
  if (await job.getByTestId('job-progress').count()) {
    await expect(job.getByTestId('job-progress')).toHaveAttribute('aria-valuenow', '100');
  }
  await shot('transcription succeeded');
  const reopened = () => [...streams.values()].filter((stream) => stream.opened >= reloadedAt);
  expect(reopened().length, 'the event stream is opened again after the reload').toBeGreaterThanOrEqual(1);
  // The stream ends with the job (the server closes it after `succeeded`), and is not reopened.
  await expect
    .poll(() => reopened().filter((stream) => !stream.ended).length, { message: 'every stream of the job has ended' })
    .toBe(0);
  const opened = reopened().length;
  await page.waitForTimeout(3000);
  expect(reopened().length, 'no new stream for a finished job').toBe(opened);
  test.info().annotations.push({ type: 'streams-after-reload', description: reopened().map((stream) => stream.ended).join('; ') });
  test.info().annotations.push({ type: 'answers-after-reload', description: answers.join('; ') });
  const expired = answers.indexOf(`401 /jobs/${jobId}/events`);
  expect(expired, `the expired token's stream was refused: ${answers}`).toBeGreaterThanOrEqual(0);
  const after = answers.slice(expired + 1);
  expect(after.filter((answer) => answer === '200 /auth/refresh').length, `one refresh after the 401: ${answers}`).toBe(1);
  expect(after.at(-1), `then the stream again: ${answers}`).toBe(`200 /jobs/${jobId}/events`);
  await page.unroute(`**/jobs/${jobId}/events`);
  const afterReload = await readRecorder(page);
  const progress = [...(beforeReload.jobs[jobId]?.progress ?? []), ...(afterReload.jobs[jobId]?.progress ?? [])];
  test.info().annotations.push({ type: 'job-progress', description: progress.join(' ') });
  expect(new Set(progress).size, `job-progress values: ${progress}`).toBeGreaterThanOrEqual(3);
  expect(progress, 'job-progress never goes back').toEqual([...progress].sort((a, b) => a - b));
  expect(beforeReload.jobs[jobId]?.statuses).toContain('running');
  expect(afterReload.jobs[jobId]?.statuses.at(-1)).toBe('succeeded');

  // The transcript arrives without another reload, one line per segment of the API's.
  const transcript = await api.transcript(videoId);
  await expect(page.getByTestId('transcript-line')).toHaveCount(transcript.segments.length);
  await expect(page.getByTestId('transcript-line').first()).toContainText(transcript.segments[0]!.text.trim());
  await shot('transcript shown');
  await axe('video page with a transcript');
});
