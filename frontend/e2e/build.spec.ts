// The built app and how the API serves it: nothing from another origin, a strict CSP, deep
// links that reload into the app, 404 for a missing asset, / redirecting a browser to /app/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from './support/fixtures';
import { DIST } from './support/state';
import { logIn } from './support/ui';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

// Text that looks like a URL of another origin but is never loaded. HTML and CSS (where a URL
// is a load) may hold none but XML namespaces; in JavaScript only these library strings, each
// read in the bundle: anything else found fails the test. (That nothing is loaded from another
// origin at run time is checked on every request of every test: support/fixtures.ts.)
const NAMESPACES = [/^https?:\/\/www\.w3\.org\//]; // SVG, XHTML, MathML namespace names
const LIBRARY_TEXT = [
  /^https:\/\/react\.dev\/errors\/$/, // React: the link in a minified error's message
  /^https:\/\/reactrouter\.com\/en\/main\/routers\/picking-a-router\.?$/, // React Router: a warning's text
  /^https:\/\/github\.com\/ungap\/url-search-params\.?$/, // React Router: a warning's text
  /^http:\/\/localhost$/, // React Router: the base of new URL(path, base) when there is no window
];

test('the build holds no URL of another origin', async () => {
  const found: string[] = [];
  const text = files(DIST).filter((path) => /\.(html|js|mjs|css|svg|json|webmanifest|txt)$/.test(path));
  expect(text.length, 'files in dist/').toBeGreaterThan(1);
  for (const path of text) {
    const allowed = /\.m?js$/.test(path) ? [...NAMESPACES, ...LIBRARY_TEXT] : NAMESPACES;
    for (const match of readFileSync(path, 'utf8').matchAll(/\bhttps?:\/\/[^\s"'`)<>\\]+/g)) {
      if (!allowed.some((pattern) => pattern.test(match[0]))) found.push(`${relative(DIST, path)}: ${match[0]}`);
    }
  }
  expect(found).toEqual([]);
});

test('/app/ answers carry a strict Content-Security-Policy', async ({ request }) => {
  for (const path of ['/app/', '/app/videos']) {
    const answer = await request.get(path, { headers: { accept: 'text/html' } });
    expect(answer.status(), path).toBe(200);
    const csp = answer.headers()['content-security-policy'] ?? '';
    expect(csp, `${path} CSP`).not.toBe('');
    const scripts = /(?:^|;)\s*script-src([^;]*)/.exec(csp)?.[1] ?? /(?:^|;)\s*default-src([^;]*)/.exec(csp)?.[1];
    expect(scripts, `${path}: script-src or default-src`).toBeDefined();
    expect(scripts).not.toContain("'unsafe-inline'");
    expect(scripts).not.toContain("'unsafe-eval'");
  }
});

test('GET / from a browser is redirected to /app/; a missing asset is 404', async ({ request }) => {
  const root = await request.get('/', { headers: { accept: 'text/html' }, maxRedirects: 0 });
  expect([301, 302, 303, 307, 308]).toContain(root.status());
  expect(new URL(root.headers()['location'] ?? '', 'http://x').pathname).toBe('/app/');
  const missing = await request.get('/app/assets/no-such-file.js');
  expect(missing.status()).toBe(404);
});

test('every client route reloads into the app', async ({ page, request, data, shot }) => {
  const index = await (await request.get('/app/')).text();
  const entry = /<script[^>]+src="([^"]+)"/.exec(index)?.[1];
  expect(entry, 'the entry script of index.html').toBeDefined();
  const routes = [
    '/app/login',
    '/app/signup',
    '/app/videos',
    `/app/videos/${data.owner.videoId}`,
    '/app/search?q=x',
    '/app/settings',
  ];
  for (const route of routes) {
    const answer = await request.get(route, { headers: { accept: 'text/html' } });
    expect(answer.status(), route).toBe(200);
    expect(answer.headers()['content-type'], route).toContain('text/html');
    expect(await answer.text(), `${route} is the app's index.html`).toContain(entry!);
  }

  await logIn(page, data.owner.email, data.password);
  for (const route of ['/app/videos', '/app/search?q=x', '/app/settings', `/app/videos/${data.owner.videoId}`]) {
    await page.goto(route);
    // Settled first: a reload that cuts off the page's session refresh is auth.spec.ts's case.
    await expect(page.getByTestId('logout')).toBeVisible();
    await page.waitForLoadState('networkidle');
    await page.reload();
    await expect(page.getByTestId('logout'), `${route} after a reload`).toBeVisible();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(route);
    await shot(`reloaded ${route}`);
  }
  await page.goto('/app/search?q=x');
  await page.reload();
  await expect(page.getByTestId('search-input')).toHaveValue('x');
  await page.goto('/app/videos');
  await page.reload();
  await expect(page.locator('[data-testid="video-item"]').first()).toBeVisible();
});
