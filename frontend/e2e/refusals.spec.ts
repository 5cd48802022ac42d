// What the API refuses reaches the person in its own words: a file that is not a video, a link
// to a private address; a job that cannot be bought is a disabled control that says why.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Api } from './support/api';
import { expect, test } from './support/fixtures';
import { logIn } from './support/ui';

test("a file that is not a video shows the API's reason", async ({ page, data, shot }, info) => {
  mkdirSync(info.outputDir, { recursive: true });
  const file = join(info.outputDir, 'notes.mp4');
  writeFileSync(file, 'These are meeting notes, not a video.\n'.repeat(50));
  await logIn(page, data.stranger.email, data.password);
  const answer = page.waitForResponse((response) => response.url().endsWith('/videos/upload'));
  await page.getByTestId('upload-input').setInputFiles(file);
  const refused = await answer;
  expect(refused.status()).toBe(415);
  const detail = ((await refused.json()) as { detail: string }).detail;
  await expect(page.getByRole('alert').filter({ hasText: detail })).toBeVisible();
  await shot('refused upload');
});

test("a link to a private address shows the API's reason", async ({ page, data, shot }) => {
  const link = 'http://127.0.0.1:9/clip.mp4';
  const api = new Api(data.baseURL, data.stranger.email, data.password);
  const direct = await api.fetch('/videos/link', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: link }),
  });
  expect(direct.status).toBe(422);
  const message = ((await direct.json()) as { detail: { msg: string }[] }).detail[0]!.msg;

  await logIn(page, data.stranger.email, data.password);
  await page.getByTestId('link-url').fill(link);
  await page.getByTestId('link-submit').click();
  await expect(page.getByText(message.replace(/^Value error, /, '')).first()).toBeVisible();
  await expect(page.getByTestId('video-item')).toHaveCount(0);
  await shot('refused link');
});

test('buy-transcribe is disabled, with the reason as its description, on a video without audio', async ({ page, data, shot }) => {
  await logIn(page, data.reader.email, data.password);
  await page.goto(`/app/videos/${data.reader.videoId}`);
  const buy = page.getByTestId('buy-transcribe');
  await expect(buy).toBeDisabled();
  await expect(buy).toHaveAccessibleDescription(/\S/);
  await shot('no audio: nothing to transcribe');
});
