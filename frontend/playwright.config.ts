// The web app's end-to-end suite (frontend/e2e), run by `make test-e2e`: Debian's Chromium
// (never `playwright install`: it cannot download here, and its Chromium cannot play H.264)
// against the real server, which e2e/global-setup.ts starts on 127.0.0.1 and stops by pid.
// The 1 GiB upload benchmark (e2e/bench-upload.spec.ts) runs only with E2E_BENCH=1
// (`make bench-webapp`). Screenshots, traces and reports go to e2e-artifacts/ (git-ignored).
import { defineConfig } from '@playwright/test';

const bench = process.env.E2E_BENCH === '1';

export default defineConfig({
  testDir: './e2e',
  testMatch: bench ? ['bench-*.spec.ts'] : ['*.spec.ts'],
  testIgnore: bench ? [] : ['bench-*.spec.ts'],
  globalSetup: './e2e/global-setup.ts',
  outputDir: './e2e-artifacts/test-results',
  // One browser at a time: one shared server, two CPU cores, timings that mean something.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [
    ['list'],
    ['html', { outputFolder: './e2e-artifacts/report', open: 'never' }],
    ['json', { outputFile: './e2e-artifacts/results.json' }],
  ],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // Straight to 127.0.0.1 whatever a proxy setting says.
      args: ['--no-proxy-server'],
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 15_000,
    navigationTimeout: 20_000,
  },
});
