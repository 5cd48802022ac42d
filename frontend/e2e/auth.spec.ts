// Sign up, log in, a wrong password, log out; the session in an HttpOnly cookie only.
import type { Page } from '@playwright/test';
import { expect, test } from './support/fixtures';
import { logIn, logOut, newEmail, signUp } from './support/ui';

// DEFAULT_CREDITS of the e2e server, however the app writes the number (1000, 1,000, 1 000).
const CREDITS = /(^|\D)1[,.\s\u202f]?000(\D|$)/;

/** Everything the page can reach of the browser's storage: it must hold nothing of a session. */
async function storage(page: Page) {
  return page.evaluate(async () => {
    const databases = indexedDB.databases ? await indexedDB.databases() : [];
    return {
      local: Object.keys(localStorage),
      session: Object.keys(sessionStorage),
      indexedDB: databases.map((database) => database.name),
      cookies: document.cookie,
    };
  });
}

test('sign up, log out, log in again; a reload keeps the session; nothing in storage', async ({
  page,
  context,
  data,
  shot,
  axe,
}) => {
  const email = newEmail('signup');
  await page.goto('/app/signup');
  await shot('sign-up form');
  await axe('sign-up page');
  await signUp(page, email, data.password);
  await expect(page).toHaveURL(/\/app\/videos$/);
  await expect(page.getByTestId('credits')).toHaveText(CREDITS);
  await shot('signed up: the videos page');

  const refresh = (await context.cookies()).find((cookie) => cookie.name === 'refresh_token');
  expect(refresh, 'the refresh token cookie').toBeDefined();
  expect(refresh!.httpOnly).toBe(true);
  expect(refresh!.sameSite).toBe('Strict');
  expect(refresh!.path).toBe('/auth');
  expect(await storage(page)).toEqual({ local: [], session: [], indexedDB: [], cookies: '' });

  await page.reload();
  await expect(page.getByTestId('logout')).toBeVisible();
  await expect(page).toHaveURL(/\/app\/videos$/);
  await shot('reloaded: still logged in');

  await logOut(page);
  expect((await context.cookies()).filter((cookie) => cookie.name === 'refresh_token')).toEqual([]);
  await shot('logged out');
  await page.goto('/app/videos');
  await expect(page.getByTestId('login-email')).toBeVisible();
  await expect(page).toHaveURL(/\/app\/login/);
  await axe('log-in page');

  await logIn(page, email, data.password);
  await expect(page.getByTestId('credits')).toHaveText(CREDITS);
  await shot('logged in again');
  expect(await storage(page)).toEqual({ local: [], session: [], indexedDB: [], cookies: '' });
});

test('a wrong password shows the log-in error and does not log in', async ({ page, data, shot, axe }) => {
  await page.goto('/app/login');
  await page.getByTestId('login-email').fill(data.owner.email);
  await page.getByTestId('login-password').fill('not the password at all');
  await page.getByTestId('login-submit').click();
  await expect(page.getByTestId('login-error')).toBeVisible();
  await expect(page.getByTestId('login-error')).not.toBeEmpty();
  await expect(page.getByTestId('logout')).toHaveCount(0);
  await expect(page).toHaveURL(/\/app\/login/);
  await shot('wrong password');
  await axe('log-in page with its error');

  // The right one then works from the same form.
  await page.getByTestId('login-password').fill(data.password);
  await page.getByTestId('login-submit').click();
  await expect(page.getByTestId('logout')).toBeVisible();
  await shot('then the right password');
});

test('a log-out ends the session: the old cookie no longer refreshes', async ({ page, context, data }) => {
  await logIn(page, data.stranger.email, data.password);
  const before = (await context.cookies()).find((cookie) => cookie.name === 'refresh_token');
  expect(before).toBeDefined();
  await logOut(page);
  // The cookie as it was before the log-out, sent again by hand: the API refuses it.
  const answer = await page.request.post('/auth/refresh?cookie=true', {
    headers: { cookie: `refresh_token=${before!.value}` },
    data: {},
  });
  expect(answer.status()).toBe(401);
});

test("a reload right after a session refresh whose answer was lost keeps the session", async ({ page, context, data }) => {
  // A page refreshes its session when it loads (the access token lives in memory only). If the
  // person reloads again before that refresh's answer arrives (or the tab closes, or the network
  // drops), the API has rotated the cookie but the browser never stored the new one: the next
  // load sends the previous cookie. Seen in about 3 of 10 quick reloads (login, goto, reload at
  // once) on this machine. Made deterministic here: the same refresh, sent from outside the
  // browser, whose answer the browser never sees. Only the API can make this safe (e.g. the
  // previous refresh token still honoured for a few seconds after its rotation).
  await logIn(page, data.stranger.email, data.password);
  await page.waitForLoadState('networkidle');
  const cookie = (await context.cookies()).find((candidate) => candidate.name === 'refresh_token');
  expect(cookie).toBeDefined();
  const lost = await fetch(`${data.baseURL}/auth/refresh?cookie=true`, {
    method: 'POST',
    headers: { cookie: `refresh_token=${cookie!.value}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(lost.status, 'the refresh the browser never heard of').toBe(200);
  await page.goto('/app/videos');
  await expect(page.getByTestId('logout').or(page.getByTestId('login-email')).first()).toBeVisible();
  await expect(page.getByTestId('logout'), 'still logged in after the reload').toBeVisible();
});
