// Where things are, and what the global setup hands the tests (e2e-artifacts/state.json).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FRONTEND = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ROOT = join(FRONTEND, '..');
export const DIST = join(FRONTEND, 'dist');
// Screenshots, logs, traces and figures of a run: git-ignored, kept by CI as artifacts.
export const ARTIFACTS = join(FRONTEND, 'e2e-artifacts');
// A copy for people; the tests read the run's own file (E2E_STATE_FILE, set by the global
// setup in its temporary folder), so two runs at once never read each other's.
export const STATE_FILE = join(ARTIFACTS, 'state.json');

export interface State {
  baseURL: string;
  password: string;
  accessTokenMinutes: number;
  /** A transcribed and summarised video of espeak-ng speech (media.sentences). */
  owner: { email: string; videoId: number; filename: string };
  /** A 1,000-second video with a seeded transcript of `segments` lines. */
  reader: { email: string; videoId: number; segments: number };
  /** A user with nothing. */
  stranger: { email: string };
  media: { speech: string; story: string; long: string; sentences: string[]; long_seconds: number };
  providerURL: string;
  setupSeconds: number;
}

let cached: State | null = null;

export function state(): State {
  const file = process.env.E2E_STATE_FILE;
  if (!file) throw new Error('E2E_STATE_FILE is not set: run the suite through its global setup');
  cached ??= JSON.parse(readFileSync(file, 'utf8')) as State;
  return cached;
}
