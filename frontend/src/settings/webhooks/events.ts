import type { Webhook } from '../../api';

export type WebhookEvent = Webhook['events'][number];

export const EVENTS: { event: WebhookEvent; words: string }[] = [
  { event: 'video.ready', words: 'A video is ready' },
  { event: 'video.failed', words: 'A video could not be used' },
  { event: 'job.succeeded', words: 'A job succeeded' },
  { event: 'job.failed', words: 'A job failed' },
  { event: 'job.canceled', words: 'A job was canceled' },
];
