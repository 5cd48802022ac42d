// The API as the tests see it from outside the browser: to prepare data and to compare what the
// page shows with what the API answers. Plain fetch; the server's access tokens live one minute
// in this suite, so a token is renewed by logging in again when it is 40 s old.
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';

export interface Video {
  id: number;
  status: 'processing' | 'ready' | 'failed';
  filename: string | null;
  duration_seconds: number | null;
  has_audio: boolean | null;
}

export interface Job {
  id: number;
  kind: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  progress: number;
  error: unknown;
}

export interface Segment {
  start: number;
  end: number;
  text: string;
}

export interface Transcript {
  segments: Segment[];
  text: string;
}

export interface Summary {
  summary: string;
  chapters: { start: number; title: string }[];
}

export interface SearchHit {
  video_id: number;
  start: number;
  text: string;
}

export class Api {
  private token: string | null = null;
  private tokenAt = 0;

  constructor(
    readonly base: string,
    readonly email: string,
    readonly password: string,
  ) {}

  static async register(base: string, email: string, password: string): Promise<Api> {
    const response = await fetch(`${base}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (response.status !== 201) {
      throw new Error(`register ${email}: ${response.status} ${await response.text()}`);
    }
    return new Api(base, email, password);
  }

  async accessToken(): Promise<string> {
    if (this.token === null || Date.now() - this.tokenAt > 40_000) {
      const response = await fetch(`${this.base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: this.email, password: this.password }),
      });
      if (!response.ok) throw new Error(`login ${this.email}: ${response.status}`);
      this.token = ((await response.json()) as { access_token: string }).access_token;
      this.tokenAt = Date.now();
    }
    return this.token;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${await this.accessToken()}`);
    return fetch(`${this.base}${path}`, { ...init, headers });
  }

  async json<T>(path: string, init: RequestInit = {}, expected = [200, 201, 202]): Promise<T> {
    const response = await this.fetch(path, init);
    if (!expected.includes(response.status)) {
      throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
    }
    return (await response.json()) as T;
  }

  async upload(file: string): Promise<Video> {
    const form = new FormData();
    form.append('file', await openAsBlob(file, { type: 'video/mp4' }), basename(file));
    return this.json<Video>('/videos/upload', { method: 'POST', body: form }, [201]);
  }

  video(id: number): Promise<Video> {
    return this.json<Video>(`/videos/${id}`);
  }

  async waitVideo(id: number, seconds = 60): Promise<Video> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const video = await this.video(id);
      if (video.status === 'ready') return video;
      if (video.status === 'failed') throw new Error(`video ${id} failed: ${JSON.stringify(video)}`);
      if (Date.now() > deadline) throw new Error(`video ${id} not ready within ${seconds} s`);
      await sleep(200);
    }
  }

  buy(videoId: number, kind: string): Promise<Job> {
    return this.json<Job>(
      `/videos/${videoId}/jobs`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind }),
      },
      [202],
    );
  }

  async waitJob(id: number, seconds = 180): Promise<Job> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const job = await this.json<Job>(`/jobs/${id}`);
      if (job.status === 'succeeded') return job;
      if (job.status === 'failed' || job.status === 'canceled') {
        throw new Error(`job ${id} ${job.status}: ${JSON.stringify(job)}`);
      }
      if (Date.now() > deadline) throw new Error(`job ${id} not done within ${seconds} s`);
      await sleep(300);
    }
  }

  transcript(videoId: number): Promise<Transcript> {
    return this.json<Transcript>(`/videos/${videoId}/transcript`);
  }

  summary(videoId: number): Promise<Summary> {
    return this.json<Summary>(`/videos/${videoId}/summary`);
  }

  async vtt(videoId: number): Promise<string> {
    const response = await this.fetch(`/videos/${videoId}/captions?format=vtt`);
    if (!response.ok) throw new Error(`captions ${videoId}: ${response.status}`);
    return response.text();
  }

  async search(q: string): Promise<SearchHit[]> {
    const page = await this.json<{ data: SearchHit[] }>(`/search?q=${encodeURIComponent(q)}`);
    return page.data;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The cues of a WebVTT file: start, end (seconds) and text. */
export function parseVtt(vtt: string): { start: number; end: number; text: string }[] {
  const seconds = (stamp: string) => {
    const parts = stamp.trim().split(':').map(Number);
    return parts.reduce((total, part) => total * 60 + part, 0);
  };
  const cues = [];
  for (const block of vtt.replace(/\r/g, '').split(/\n\n+/)) {
    const lines = block.split('\n');
    const timing = lines.findIndex((line) => line.includes('-->'));
    if (timing < 0) continue;
    const [from, to] = lines[timing]!.split('-->');
    cues.push({
      start: seconds(from!),
      end: seconds(to!.trim().split(/\s+/)[0]!),
      text: lines.slice(timing + 1).join('\n'),
    });
  }
  return cues;
}
