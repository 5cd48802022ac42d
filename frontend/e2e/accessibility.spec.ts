// axe-core on every page of the app, as a logged-out visitor and as a user with a transcribed,
// summarised video: no serious or critical violation (support/fixtures.ts: axe()).
import { Api } from './support/api';
import { expect, test } from './support/fixtures';
import { logIn, waitForMetadata } from './support/ui';

test('every page passes axe (no serious or critical violation)', async ({ page, data, axe, shot }) => {
  for (const route of ['/app/login', '/app/signup']) {
    await page.goto(route);
    await expect(page.locator('[data-testid$="-submit"]')).toBeVisible();
    await axe(route);
  }
  const transcript = await new Api(data.baseURL, data.owner.email, data.password).transcript(data.owner.videoId);
  const word = transcript.segments[1]!.text.match(/[A-Za-z]{5,}/)![0];
  await logIn(page, data.owner.email, data.password);
  const pages: [string, () => Promise<void>][] = [
    ['/app/videos', async () => void (await expect(page.getByTestId('video-item').first()).toBeVisible())],
    [
      `/app/videos/${data.owner.videoId}`,
      async () => {
        await waitForMetadata(page);
        await expect(page.getByTestId('transcript-line').first()).toBeVisible();
        await expect(page.getByTestId('chapter').first()).toBeVisible();
      },
    ],
    [`/app/search?q=${word}`, async () => void (await expect(page.getByTestId('search-hit').first()).toBeVisible())],
    ['/app/search?q=zebracorn', async () => void (await expect(page.getByTestId('search-empty')).toBeVisible())],
    [
      '/app/settings',
      async () => {
        await expect(page.getByTestId('logout')).toBeVisible();
        await page.waitForLoadState('networkidle');
      },
    ],
  ];
  for (const [route, ready] of pages) {
    await page.goto(route);
    await ready();
    await shot(route);
    await axe(route);
  }
});
