// Steps through the app by its contract hooks (data-testid), shared by the specs.
import { expect, type Page } from '@playwright/test';

let counter = 0;

/** An address no other test uses. */
export function newEmail(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now()}-${process.pid}-${counter}@e2e.example.com`;
}

export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/app/login');
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await expect(page.getByTestId('logout')).toBeVisible();
}

/** Signs up; if the app then asks to log in, logs in. Ends logged in. */
export async function signUp(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/app/signup');
  await page.getByTestId('signup-email').fill(email);
  await page.getByTestId('signup-password').fill(password);
  await page.getByTestId('signup-submit').click();
  const landed = page.getByTestId('logout').or(page.getByTestId('login-email'));
  await expect(landed.first()).toBeVisible();
  if (await page.getByTestId('login-email').isVisible()) {
    await page.getByTestId('login-email').fill(email);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await expect(page.getByTestId('logout')).toBeVisible();
  }
}

export async function logOut(page: Page): Promise<void> {
  await page.getByTestId('logout').click();
  await expect(page.getByTestId('login-email')).toBeVisible();
}

export function videoItem(page: Page, videoId: number) {
  return page.locator(`[data-testid="video-item"][data-video-id="${videoId}"]`);
}

/** The player's state, read in the page. */
export async function playerState(page: Page) {
  return page.getByTestId('video-player').evaluate((element) => {
    const video = element as HTMLVideoElement;
    return {
      currentTime: video.currentTime,
      duration: video.duration,
      readyState: video.readyState,
      src: video.currentSrc,
      error: video.error?.code ?? null,
    };
  });
}

/** Waits until the player knows its duration (metadata loaded). */
export async function waitForMetadata(page: Page): Promise<void> {
  await expect
    .poll(async () => (await playerState(page)).readyState, { message: 'the player loads its metadata' })
    .toBeGreaterThanOrEqual(1);
}

/** Waits until currentTime is within `tolerance` of `seconds`. */
export async function expectCurrentTime(page: Page, seconds: number, tolerance = 0.25): Promise<void> {
  await expect
    .poll(async () => Math.abs((await playerState(page)).currentTime - seconds), {
      message: `currentTime within ${tolerance} s of ${seconds}`,
    })
    .toBeLessThanOrEqual(tolerance);
}
