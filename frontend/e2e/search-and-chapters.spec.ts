// Search across transcripts (a spoken word finds its moment; nothing found shows the empty
// state) and the summary's chapters (each seeks to its start).
import { Api, type Summary, type Transcript } from './support/api';
import { expect, test } from './support/fixtures';
import { state } from './support/state';
import { expectCurrentTime, logIn, waitForMetadata } from './support/ui';

let api: Api;
let transcript: Transcript;
let summary: Summary;

test.beforeAll(async () => {
  const data = state();
  api = new Api(data.baseURL, data.owner.email, data.password);
  transcript = await api.transcript(data.owner.videoId);
  summary = await api.summary(data.owner.videoId);
});

/** A word that was spoken (in the script espeak-ng read), heard by the model in exactly one
 * segment after the first, so its hit has a start of its own. */
function spokenWord(sentences: string[]): { word: string; segment: number } {
  const words = sentences.join(' ').toLowerCase().match(/[a-z]{6,}/g) ?? [];
  for (const word of words) {
    const where = transcript.segments
      .map((segment, k) => (new RegExp(`\\b${word}\\b`, 'i').test(segment.text) ? k : -1))
      .filter((k) => k >= 0);
    if (where.length === 1 && where[0]! > 0) return { word, segment: where[0]! };
  }
  throw new Error(`no spoken word found alone in a later segment of ${JSON.stringify(transcript.segments)}`);
}

test('a search for a spoken word lists a hit that opens the video at its start', async ({ page, data, shot, axe }) => {
  const { word, segment } = spokenWord(data.media.sentences);
  const start = transcript.segments[segment]!.start;
  const apiHits = await api.search(word);
  expect(apiHits.map((hit) => [hit.video_id, hit.start])).toEqual([[data.owner.videoId, start]]);

  await logIn(page, data.owner.email, data.password);
  await page.getByTestId('search-input').fill(word);
  await page.getByTestId('search-input').press('Enter');
  await expect(page).toHaveURL(new RegExp(`/app/search\\?q=${word}`));
  const hits = page.getByTestId('search-hit');
  await expect(hits).toHaveCount(1);
  await expect(hits.first()).toHaveAttribute('data-video-id', String(data.owner.videoId));
  expect(Number(await hits.first().getAttribute('data-start'))).toBeCloseTo(start, 2);
  await expect(hits.first()).toContainText(new RegExp(word, 'i'));
  await shot(`search for ${word}`);
  await axe('search results');

  await hits.first().click();
  await expect(page).toHaveURL(new RegExp(`/app/videos/${data.owner.videoId}\\?t=`));
  expect(Number(new URL(page.url()).searchParams.get('t'))).toBeCloseTo(start, 2);
  await waitForMetadata(page);
  await expectCurrentTime(page, start);
  await shot('opened at the hit');
});

test('a search with no match shows the empty state', async ({ page, data, shot, axe }) => {
  await logIn(page, data.owner.email, data.password);
  await page.goto('/app/search');
  await page.getByTestId('search-input').fill('zebracorn');
  await page.getByTestId('search-input').press('Enter');
  await expect(page.getByTestId('search-empty')).toBeVisible();
  await expect(page.getByTestId('search-hit')).toHaveCount(0);
  await shot('nothing found');
  await axe('search, nothing found');
});

test('the summary shows, and a chapter seeks to its start', async ({ page, data, shot }) => {
  expect(summary.chapters.length, 'the fake provider made chapters').toBeGreaterThanOrEqual(2);
  await logIn(page, data.owner.email, data.password);
  await page.goto(`/app/videos/${data.owner.videoId}`);
  await waitForMetadata(page);
  await expect(page.getByTestId('summary-text')).toContainText(summary.summary.slice(0, 40));
  const chapters = page.getByTestId('chapter');
  await expect(chapters).toHaveCount(summary.chapters.length);
  for (const k of [summary.chapters.length - 1, 0]) {
    const chapter = summary.chapters[k]!;
    expect(Number(await chapters.nth(k).getAttribute('data-start'))).toBeCloseTo(chapter.start, 2);
    await chapters.nth(k).click();
    await expectCurrentTime(page, chapter.start);
    await shot(`chapter ${k}`);
  }
});
