// The main flow with the keyboard alone: Tab to move, Enter or Space to act, typing to fill.
// No click, no focus() call: tabTo() presses Tab until the wanted control has the focus.
import type { Page } from '@playwright/test';
import { Api } from './support/api';
import { expect, test } from './support/fixtures';
import { expectCurrentTime, newEmail, waitForMetadata } from './support/ui';

// The focused element; testid and start are its own or, for a button or link inside a hooked
// element (a transcript line holding a button), the nearest hooked ancestor's.
interface Focused {
  testid: string | null;
  tag: string;
  type: string | null;
  href: string | null;
  start: string | null;
  name: string;
}

async function focused(page: Page): Promise<Focused> {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    const hooked = element?.closest<HTMLElement>('[data-testid]') ?? null;
    return {
      testid: hooked?.dataset.testid ?? null,
      tag: element?.tagName.toLowerCase() ?? '',
      type: element?.getAttribute('type') ?? null,
      href: element?.getAttribute('href') ?? null,
      start: hooked?.dataset.start ?? null,
      name: `${element?.getAttribute('aria-label') ?? ''} ${element?.textContent ?? ''}`.trim(),
    };
  });
}

/** Tab until `wanted` holds for the focused element (at most `limit` presses). */
async function tabTo(page: Page, what: string, wanted: (element: Focused) => boolean, limit = 120): Promise<void> {
  for (let presses = 0; presses < limit; presses += 1) {
    if (wanted(await focused(page))) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${what}: not reached with Tab in ${limit} presses (focus on ${JSON.stringify(await focused(page))})`);
}

const byTestId = (testid: string) => (element: Focused) => element.testid === testid;

async function typeInto(page: Page, testid: string, text: string): Promise<void> {
  await tabTo(page, testid, byTestId(testid));
  await page.keyboard.type(text);
}

test('the main flow with the keyboard alone', async ({ page, data, shot }) => {
  test.setTimeout(300_000);
  const email = newEmail('keyboard');
  const api = new Api(data.baseURL, email, data.password);

  // Sign up (the form submits with Enter); log in the same way if the app asks.
  await page.goto('/app/signup');
  await typeInto(page, 'signup-email', email);
  await typeInto(page, 'signup-password', data.password);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('logout').or(page.getByTestId('login-email')).first()).toBeVisible();
  if (await page.getByTestId('login-email').isVisible()) {
    await typeInto(page, 'login-email', email);
    await typeInto(page, 'login-password', data.password);
    await page.keyboard.press('Enter');
  }
  await expect(page.getByTestId('logout')).toBeVisible();
  await shot('signed up with the keyboard');

  // Upload: the file picker opened from the keyboard.
  await tabTo(
    page,
    'the upload control',
    (element) =>
      element.testid === 'upload-input' ||
      ((element.tag === 'button' || element.tag === 'label') && /upload|choose|browse|select|file/i.test(element.name)),
  );
  const chooser = page.waitForEvent('filechooser', { timeout: 5000 });
  await page.keyboard.press('Space');
  await (await chooser).setFiles(data.media.speech);
  const item = page.getByTestId('video-item').first();
  await expect(item).toHaveAttribute('data-status', 'ready', { timeout: 60_000 });
  const videoId = Number(await item.getAttribute('data-video-id'));
  await shot('uploaded with the keyboard');

  // Open it: its link, then Enter.
  await tabTo(page, 'the video link', (element) => element.tag === 'a' && (element.href ?? '').endsWith(`/app/videos/${videoId}`));
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/app/videos/${videoId}$`));
  await waitForMetadata(page);

  // Buy a transcription, then a summary.
  for (const kind of ['transcribe', 'summarize']) {
    await expect(page.getByTestId(`buy-${kind}`)).toBeEnabled({ timeout: 60_000 });
    await tabTo(page, `buy-${kind}`, byTestId(`buy-${kind}`));
    await page.keyboard.press('Enter');
    const job = page.locator(`[data-testid="job-item"][data-kind="${kind}"]`);
    await expect(job.first()).toHaveAttribute('data-status', 'succeeded', { timeout: 120_000 });
    await shot(`${kind} bought with the keyboard`);
  }
  const transcript = await api.transcript(videoId);
  const summary = await api.summary(videoId);

  // A transcript line, then a chapter, with Enter.
  const line = transcript.segments[2]!;
  await expect(page.getByTestId('transcript-line')).toHaveCount(transcript.segments.length);
  await tabTo(page, 'transcript line 2', (element) => element.testid === 'transcript-line' && Number(element.start) === line.start);
  await page.keyboard.press('Enter');
  await expectCurrentTime(page, line.start);
  await expect(page.getByTestId('transcript-line').nth(2)).toHaveAttribute('aria-current', 'true');
  const chapter = summary.chapters.at(-1)!;
  await expect(page.getByTestId('chapter')).toHaveCount(summary.chapters.length);
  await tabTo(page, 'the last chapter', (element) => element.testid === 'chapter' && Number(element.start) === chapter.start);
  await page.keyboard.press('Enter');
  await expectCurrentTime(page, chapter.start);
  await shot('line and chapter with the keyboard');

  // Search, then open the hit.
  const word = transcript.segments[1]!.text.match(/[A-Za-z]{5,}/)![0];
  await typeInto(page, 'search-input', word);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('search-hit').first()).toBeVisible();
  await tabTo(page, 'the first hit', byTestId('search-hit'));
  const start = Number(await page.getByTestId('search-hit').first().getAttribute('data-start'));
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/app/videos/${videoId}\\?t=`));
  await waitForMetadata(page);
  await expectCurrentTime(page, start);
  await shot('search hit opened with the keyboard');

  // Log out, log in.
  await tabTo(page, 'log out', byTestId('logout'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('login-email')).toBeVisible();
  await typeInto(page, 'login-email', email);
  await typeInto(page, 'login-password', data.password);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('logout')).toBeVisible();
  await shot('logged in again with the keyboard');
});
