// Follow a job over `GET /jobs/{id}/events` (server-sent events, each `data:` a JobRead) with
// fetch, not EventSource, which cannot send `Authorization`. The token goes with every
// (re)connection, a 401 gets one refresh, `Last-Event-ID` resumes where the last stream stopped,
// retries are capped, and the stream is closed once the job has ended or the caller closes it.
import type { ProcessingJobRead } from '../client/types.gen';
import { freshToken, refreshSession } from './session';

const MAX_RETRIES = 5;
const FINAL = new Set(['succeeded', 'failed', 'canceled']);

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Split a text stream into events (the HTML spec's parsing, minus `retry`). */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;

  private afterCR = false; // the last chunk ended in "\r": a "\n" opening this one is its pair

  /** Feed a chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    if (chunk === '') return [];
    const text = this.afterCR && chunk.startsWith('\n') ? chunk.slice(1) : chunk;
    this.afterCR = chunk.endsWith('\r');
    this.buffer += text;
    const events: SseEvent[] = [];
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? ''; // an unfinished line waits for the next chunk
    for (const line of lines) {
      if (line === '') {
        if (this.data.length > 0) {
          events.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
        }
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return events;
  }
}

export interface JobFollower {
  close(): void;
}

/**
 * Call `onJob` with each state of the job until it ends. `onGiveUp` runs when the stream could
 * not be kept (retries used up, session gone, job not found).
 */
export function followJob(
  jobId: number,
  onJob: (job: ProcessingJobRead) => void,
  onGiveUp: () => void = () => {},
): JobFollower {
  const controller = new AbortController();
  let lastEventId: string | null = null;
  let heard = false; // an event since the last (re)connection: the retry count starts again

  async function connect(): Promise<'ended' | 'retry' | 'give-up'> {
    let refreshed = false;
    for (;;) {
      const headers = new Headers({ Accept: 'text/event-stream' });
      const token = await freshToken();
      if (token) headers.set('Authorization', `Bearer ${token}`);
      if (lastEventId !== null) headers.set('Last-Event-ID', lastEventId);
      const response = await fetch(`/jobs/${jobId}/events`, { headers, signal: controller.signal });
      if (response.status === 401 && !refreshed) {
        refreshed = true;
        if (await refreshSession()) continue;
        return 'give-up';
      }
      if (response.status === 401 || response.status === 403 || response.status === 404) return 'give-up';
      if (!response.ok || !response.body) return 'retry';
      return read(response.body);
    }
  }

  async function read(body: ReadableStream<Uint8Array>): Promise<'ended' | 'retry'> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'retry'; // the server closed before a final status: reconnect
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (event.id !== null) lastEventId = event.id;
          heard = true;
          const job = JSON.parse(event.data) as ProcessingJobRead;
          onJob(job);
          if (FINAL.has(job.status)) return 'ended';
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!controller.signal.aborted) {
      let outcome: 'ended' | 'retry' | 'give-up';
      heard = false;
      try {
        outcome = await connect();
      } catch {
        outcome = 'retry'; // network error or bad data
      }
      if (controller.signal.aborted || outcome === 'ended') return;
      if (heard) failures = 0;
      if (outcome === 'give-up' || ++failures > MAX_RETRIES) {
        onGiveUp();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** (failures - 1), 15_000)));
    }
  }

  void run();
  return { close: () => controller.abort() };
}
