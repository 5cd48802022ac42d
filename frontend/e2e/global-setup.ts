// Before the suite: test media (espeak-ng speech in MP4, made now), the project's fake
// OpenAI-compatible server answering summaries, and the real API server (uvicorn, the embedded
// worker, the local transcription model) on 127.0.0.1 on free ports, with a throwaway SQLite
// database and media folder. It serves the built app (frontend/dist) under /app/. Then the data
// several tests share, made through the API: a transcribed and summarised video, a video with
// a 2,000-segment transcript. What the tests need is written to e2e-artifacts/state.json.
// The returned function (Playwright's teardown) stops both servers by process id.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Api } from './support/api';
import { freePort, run, start, stop, waitForHttp, type Started } from './support/processes';
import { ARTIFACTS, DIST, ROOT, STATE_FILE, type State } from './support/state';

const PYTHON = join(ROOT, '.venv/bin/python');
const PASSWORD = 'correct horse battery';
// Short-lived access tokens: every test that lasts past a minute, and the transcription test on
// purpose, runs through the app's transparent refresh.
const ACCESS_TOKEN_MINUTES = 1;
const LONG_SEGMENTS = 2000;

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(DIST, 'index.html'))) {
    throw new Error(`${DIST}/index.html is missing: build the app first (make test-e2e does)`);
  }
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run through make test-e2e`);
  rmSync(join(ARTIFACTS, 'screens'), { recursive: true, force: true }); // this run's only
  mkdirSync(join(ARTIFACTS, 'logs'), { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'e2e-webapp-'));
  const started: Started[] = [];
  const teardown = async () => {
    for (const process of started.reverse()) await stop(process);
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const setupStarted = Date.now();
    const media = JSON.parse(await run(PYTHON, ['frontend/e2e/support/make_media.py', join(tmp, 'media-in')], { cwd: ROOT })) as {
      speech: string;
      story: string;
      long: string;
      sentences: string[];
      long_seconds: number;
    };

    const providerPort = await freePort();
    const providerKey = 'e2e-provider-key';
    const provider = start(
      'fake OpenAI-compatible server',
      PYTHON,
      ['tests/support/openai_server.py', '--port', String(providerPort), '--api-key', providerKey, '--summaries'],
      { cwd: ROOT, env: process.env, log: join(ARTIFACTS, 'logs', 'provider.log') },
    );
    started.push(provider);

    const port = await freePort();
    const baseURL = `http://127.0.0.1:${port}`;
    const databaseUrl = `sqlite:///${join(tmp, 'app.db')}`;
    const serverEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ENVIRONMENT: 'development',
      SECRET_KEY: `e2e-${randomBytes(32).toString('hex')}`,
      DATABASE_URL: databaseUrl,
      QUEUE_URL: `sqlite:///${join(tmp, 'queue.db')}`,
      MEDIA_ROOT: join(tmp, 'media'),
      MIGRATE_ON_STARTUP: 'true',
      EMBEDDED_WORKER: 'true',
      TRANSCRIBE_PROVIDER: 'local',
      SUMMARY_PROVIDER: 'openai',
      OPENAI_BASE_URL: `http://127.0.0.1:${providerPort}/v1`,
      OPENAI_API_KEY: providerKey,
      DEFAULT_CREDITS: '1000',
      BCRYPT_ROUNDS: '4',
      ACCESS_TOKEN_EXPIRE_MINUTES: String(ACCESS_TOKEN_MINUTES),
      CORS_ORIGINS: '',
      // The suite signs up, logs in and fails logins many times from one address.
      LOGIN_MAX_FAILURES_PER_ADDRESS: '10000',
      REGISTER_MAX_PER_ADDRESS: '10000',
    };
    const server = start(
      'uvicorn',
      join(ROOT, '.venv/bin/uvicorn'),
      ['app.main:app', '--host', '127.0.0.1', '--port', String(port), '--no-access-log'],
      { cwd: ROOT, env: serverEnv, log: join(ARTIFACTS, 'logs', 'server.log') },
    );
    started.push(server);
    await waitForHttp(`http://127.0.0.1:${providerPort}/_control/requests`, provider);
    await waitForHttp(`${baseURL}/health`, server);
    await waitForHttp(`${baseURL}/app/`, server, 5);

    // Shared data, through the API.
    const owner = await Api.register(baseURL, 'owner@e2e.example.com', PASSWORD);
    const speech = await owner.waitVideo((await owner.upload(media.speech)).id);
    await owner.waitJob((await owner.buy(speech.id, 'transcribe')).id);
    await owner.waitJob((await owner.buy(speech.id, 'summarize')).id);
    const reader = await Api.register(baseURL, 'reader@e2e.example.com', PASSWORD);
    const long = await reader.waitVideo((await reader.upload(media.long)).id);
    await run(PYTHON, ['frontend/e2e/support/seed_transcript.py', String(long.id), String(LONG_SEGMENTS), '0.5'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl },
    });
    await Api.register(baseURL, 'stranger@e2e.example.com', PASSWORD);

    const state: State = {
      baseURL,
      password: PASSWORD,
      accessTokenMinutes: ACCESS_TOKEN_MINUTES,
      owner: { email: owner.email, videoId: speech.id, filename: speech.filename ?? '' },
      reader: { email: reader.email, videoId: long.id, segments: LONG_SEGMENTS },
      stranger: { email: 'stranger@e2e.example.com' },
      media,
      providerURL: `http://127.0.0.1:${providerPort}`,
      setupSeconds: (Date.now() - setupStarted) / 1000,
    };
    const stateFile = join(tmp, 'state.json');
    writeFileSync(stateFile, JSON.stringify(state, null, 2));
    writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
    process.env.E2E_STATE_FILE = stateFile; // the workers inherit it
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}
