// The video page of a transcribed video: the player's range request and duration, its captions
// track against the API's VTT, transcript lines that seek, ?t= that opens at a moment.
import type { Page, Response } from '@playwright/test';
import { Api, parseVtt, type Transcript } from './support/api';
import { expect, test } from './support/fixtures';
import { state } from './support/state';
import { expectCurrentTime, logIn, playerState, waitForMetadata } from './support/ui';

let api: Api;
let transcript: Transcript;

test.beforeAll(async () => {
  const data = state();
  api = new Api(data.baseURL, data.owner.email, data.password);
  transcript = await api.transcript(data.owner.videoId);
  expect(transcript.segments.length, 'the fixture transcript has several segments').toBeGreaterThanOrEqual(3);
});

async function openVideo(page: Page, videoId: number, query = ''): Promise<Response[]> {
  const responses: Response[] = [];
  page.on('response', (response) => responses.push(response));
  await page.goto(`/app/videos/${videoId}${query}`);
  await expect(page.getByTestId('video-player')).toBeVisible();
  await waitForMetadata(page);
  return responses;
}

test('the player gets a 206 for its range request; its duration is the probe', async ({ page, data, shot, axe }) => {
  await logIn(page, data.owner.email, data.password);
  const responses = await openVideo(page, data.owner.videoId);
  const { src, duration } = await playerState(page);
  expect(new URL(src).origin, 'the playback URL is on the same origin').toBe(data.baseURL);
  const media = responses.filter((response) => response.url() === src);
  expect(media.length, `answers to ${src}`).toBeGreaterThan(0);
  const ranged = [];
  for (const response of media) {
    const range = await response.request().headerValue('range');
    if (range) ranged.push({ range, status: response.status(), contentRange: await response.headerValue('content-range') });
  }
  test.info().annotations.push({ type: 'range requests', description: JSON.stringify(ranged) });
  expect(ranged.length, 'the player asked for a byte range').toBeGreaterThan(0);
  expect(ranged.every((answer) => answer.status === 206 && /^bytes \d+-\d+\/\d+$/.test(answer.contentRange ?? ''))).toBe(true);

  const video = await api.video(data.owner.videoId);
  expect(Math.abs(duration - video.duration_seconds!), `duration ${duration} vs probe ${video.duration_seconds}`).toBeLessThanOrEqual(0.1);
  await shot('video page');
  await axe('video page');
});

test("the captions track holds the cues of the API's VTT", async ({ page, data }) => {
  await logIn(page, data.owner.email, data.password);
  await openVideo(page, data.owner.videoId);
  const expected = parseVtt(await api.vtt(data.owner.videoId));
  expect(expected.length).toBe(transcript.segments.length);
  await expect(page.getByTestId('video-player').locator('track')).toHaveCount(1);
  await expect
    .poll(
      () =>
        page.getByTestId('video-player').evaluate((element) => {
          const track = (element as HTMLVideoElement).textTracks[0];
          if (!track) return -1;
          if (track.mode === 'disabled') track.mode = 'hidden'; // cues load once it is not disabled
          return track.cues?.length ?? 0;
        }),
      { message: 'the track loads its cues' },
    )
    .toBe(expected.length);
  const cues = await page.getByTestId('video-player').evaluate((element) =>
    Array.from((element as HTMLVideoElement).textTracks[0]!.cues!, (cue) => ({
      start: cue.startTime,
      end: cue.endTime,
      text: (cue as VTTCue).text,
    })),
  );
  expect(cues.length).toBe(expected.length);
  cues.forEach((cue, k) => {
    expect(Math.abs(cue.start - expected[k]!.start), `cue ${k} start`).toBeLessThan(0.002);
    expect(Math.abs(cue.end - expected[k]!.end), `cue ${k} end`).toBeLessThan(0.002);
    expect(cue.text.trim(), `cue ${k} text`).toBe(expected[k]!.text.trim());
  });
  const kind = await page.getByTestId('video-player').locator('track').getAttribute('kind');
  expect(['captions', 'subtitles']).toContain(kind);
});

test('a click on transcript line k seeks to its start and marks it current; so does Enter', async ({ page, data, shot }) => {
  await logIn(page, data.owner.email, data.password);
  await openVideo(page, data.owner.videoId);
  const lines = page.getByTestId('transcript-line');
  await expect(lines).toHaveCount(transcript.segments.length);
  for (const [k, segment] of transcript.segments.entries()) {
    expect(Number(await lines.nth(k).getAttribute('data-start')), `line ${k} data-start`).toBeCloseTo(segment.start, 2);
    expect(Number(await lines.nth(k).getAttribute('data-end')), `line ${k} data-end`).toBeCloseTo(segment.end, 2);
  }
  const last = transcript.segments.length - 1;
  for (const k of [last, 1]) {
    await lines.nth(k).click();
    await expectCurrentTime(page, transcript.segments[k]!.start);
    await expect(lines.nth(k)).toHaveAttribute('aria-current', 'true');
    await expect(page.locator('[data-testid="transcript-line"][aria-current="true"]')).toHaveCount(1);
    await shot(`clicked line ${k}`);
  }
  const k = 2;
  await lines.nth(k).focus();
  await page.keyboard.press('Enter');
  await expectCurrentTime(page, transcript.segments[k]!.start);
  await expect(lines.nth(k)).toHaveAttribute('aria-current', 'true');
  await shot(`Enter on line ${k}`);
});

test('?t=SECONDS opens the video at that moment', async ({ page, data }) => {
  await logIn(page, data.owner.email, data.password);
  const moment = transcript.segments[2]!.start;
  await openVideo(page, data.owner.videoId, `?t=${moment}`);
  await expectCurrentTime(page, moment);
});
