// The `test` every spec imports. On top of Playwright's:
//  - every test is watched: a request to anything but 127.0.0.1 (data: and blob: aside), an
//    uncaught page error, a console error of the app's own, or an answer >= 500 fails it;
//  - `shot(name)` keeps a screenshot of the step in e2e-artifacts/screens/<test>/;
//  - `axe(name)` runs axe-core on the page as it is and fails on any serious or critical
//    violation (the report is kept beside the screenshots);
//  - `data` is what the global setup prepared (support/state.ts).
import AxeBuilder from '@axe-core/playwright';
import { test as base, expect, type Page, type TestInfo } from '@playwright/test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, state, type State } from './state';

interface Watch {
  offOrigin: string[];
  errors: string[];
  /** Answers >= 400 (allowed unless >= 500: the app meets 401s and 404s by design). */
  failed: string[];
}

export interface Fixtures {
  data: State;
  watch: Watch;
  shot: (name: string, page?: Page) => Promise<void>;
  axe: (name: string, page?: Page) => Promise<void>;
}

export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);
}

function screensDir(info: TestInfo): string {
  const dir = join(ARTIFACTS, 'screens', slug(info.titlePath.slice(0, -1).join(' ')), slug(info.title));
  mkdirSync(dir, { recursive: true });
  return dir;
}

const LOCAL = /^https?:\/\/127\.0\.0\.1(:\d+)?\//;
const NETWORK_ERROR = /^Failed to load resource: the server responded with a status of (\d{3})/;

function watchPage(page: Page, watch: Watch): void {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const network = NETWORK_ERROR.exec(text);
    const where = message.location().url;
    if (network) {
      // Chromium's own line for an HTTP error answer: judged by its status (below).
      if (Number(network[1]) >= 500) watch.errors.push(`${text} (${where})`);
      return;
    }
    watch.errors.push(`console.error: ${text} (${where})`);
  });
  page.on('pageerror', (error) => watch.errors.push(`uncaught: ${error.message}`));
}

export const test = base.extend<Fixtures>({
  data: async ({}, use) => {
    await use(state());
  },
  baseURL: async ({}, use) => {
    await use(state().baseURL);
  },
  watch: [
    async ({ context }, use) => {
      const watch: Watch = { offOrigin: [], errors: [], failed: [] };
      context.on('request', (request) => {
        const url = request.url();
        if (url.startsWith('data:') || url.startsWith('blob:')) return;
        if (!LOCAL.test(url)) watch.offOrigin.push(url);
      });
      context.on('response', (response) => {
        if (response.status() >= 400) {
          watch.failed.push(`${response.status()} ${response.request().method()} ${response.url()}`);
        }
        if (response.status() >= 500) watch.errors.push(`HTTP ${response.status()} ${response.url()}`);
      });
      for (const page of context.pages()) watchPage(page, watch);
      context.on('page', (page) => watchPage(page, watch));
      await use(watch);
      if (watch.failed.length) {
        await test.info().attach('http-errors.txt', { body: watch.failed.join('\n') });
      }
      expect(watch.offOrigin, 'requests that left 127.0.0.1').toEqual([]);
      expect(watch.errors, 'console errors, page errors, 5xx answers').toEqual([]);
    },
    { auto: true },
  ],
  shot: async ({ page }, use, info) => {
    let count = 0;
    await use(async (name, target = page) => {
      count += 1;
      const file = join(screensDir(info), `${String(count).padStart(2, '0')}-${slug(name)}.png`);
      await target.screenshot({ path: file, fullPage: true });
    });
  },
  axe: async ({ page }, use, info) => {
    await use(async (name, target = page) => {
      const results = await new AxeBuilder({ page: target })
        .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
        .analyze();
      const dir = screensDir(info);
      writeFileSync(join(dir, `axe-${slug(name)}.json`), JSON.stringify(results.violations, null, 2));
      const serious = results.violations
        .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
        .map((violation) => ({
          id: violation.id,
          impact: violation.impact,
          help: violation.help,
          nodes: violation.nodes.map((node) => node.target.join(' ')).slice(0, 5),
        }));
      expect(serious, `axe: serious or critical violations on ${name} (${target.url()})`).toEqual([]);
    });
  },
});

export { expect };
