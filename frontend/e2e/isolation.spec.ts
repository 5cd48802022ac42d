// Another user's video id: "not found", and nothing of theirs reaches the page.
import { Api } from './support/api';
import { expect, test } from './support/fixtures';
import { logIn } from './support/ui';

test("another user's video id shows not found and none of their data", async ({ page, data, shot, axe }) => {
  const owner = new Api(data.baseURL, data.owner.email, data.password);
  const transcript = await owner.transcript(data.owner.videoId);
  const summary = await owner.summary(data.owner.videoId);
  const successes: string[] = [];
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith(`/videos/${data.owner.videoId}`) && response.status() < 400) successes.push(path);
    if (path.startsWith('/playback/') && response.status() < 400) successes.push(path);
  });

  await logIn(page, data.stranger.email, data.password);
  await page.goto(`/app/videos/${data.owner.videoId}`);
  await expect(page.getByText(/not found/i).first()).toBeVisible();
  await shot("someone else's video");
  await axe('video not found');
  const text = await page.locator('body').innerText();
  for (const secret of [
    data.owner.filename,
    ...transcript.segments.map((segment) => segment.text.trim()),
    summary.summary.slice(0, 40),
  ]) {
    expect(text, 'the page shows nothing of the owner').not.toContain(secret);
  }
  await expect(page.getByTestId('transcript-line')).toHaveCount(0);
  await expect(page.getByTestId('chapter')).toHaveCount(0);
  await expect(page.getByTestId('job-item')).toHaveCount(0);
  const sources = await page.locator('video, video source, track').evaluateAll((elements) =>
    elements.map((element) => element.getAttribute('src')).filter(Boolean),
  );
  expect(sources, 'no media of the owner').toEqual([]);
  expect(successes, "no successful answer about the owner's video").toEqual([]);

  // Nor in their list or their search.
  await page.goto('/app/videos');
  await expect(page.getByTestId('logout')).toBeVisible();
  await expect(page.locator(`[data-testid="video-item"][data-video-id="${data.owner.videoId}"]`)).toHaveCount(0);
  const word = transcript.segments[1]!.text.trim().split(/\s+/).at(-1)!.replace(/\W/g, '');
  await page.goto(`/app/search?q=${encodeURIComponent(word)}`);
  await expect(page.getByTestId('search-empty')).toBeVisible();
  await expect(page.getByTestId('search-hit')).toHaveCount(0);
});
