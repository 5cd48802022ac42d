// The webhook part of the end-to-end check: a small receiver on 127.0.0.1 is registered as an
// endpoint, an upload's `video.ready` arrives at it, and the delivery's signature is verified
// with the `standardwebhooks` package (the spec's own library, not this project's code).
// Needs E2E_VIDEO_FILE and a server with WEBHOOK_ALLOW_PRIVATE=true (scripts/with-live-server.sh).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Webhook } from 'standardwebhooks';

import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  rotateWebhookSecret,
} from './generated';
import { uploadReady } from './videos';

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`FAILED: ${message}`);
}

interface Received {
  body: string;
  headers: Record<string, string>;
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value ?? '']),
  );
}

/** A receiver answering 204 to every POST; resolves with its URL and what it received. */
async function receiver(): Promise<{ url: string; received: Received[]; close: () => void }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: flat(request.headers) });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks`, received, close: () => server.close() };
}

async function firstDelivery(received: Received[], seconds: number): Promise<Received> {
  const deadline = Date.now() + seconds * 1000;
  while (received.length === 0) {
    assert(Date.now() < deadline, `no delivery within ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return received[0];
}

export async function checkWebhooks(): Promise<void> {
  const path = process.env.E2E_VIDEO_FILE;
  if (!path) {
    console.log('--  webhooks skipped (E2E_VIDEO_FILE not set)');
    return;
  }
  const local = await receiver();
  try {
    const created = await createWebhook({ body: { url: local.url, events: ['video.ready'] } });
    assert(created.response.status === 201, `POST /webhooks status ${created.response.status}`);
    assert(created.data !== undefined && created.data.secret.startsWith('whsec_'), 'a whsec_ secret');
    const endpoint = created.data;
    const listed = await listWebhooks();
    assert(listed.data?.some((e) => e.id === endpoint.id && !('secret' in e)) === true, 'listed, no secret');
    console.log(`ok  webhook endpoint ${endpoint.id} -> ${local.url}`);

    const video = await uploadReady(path);
    const delivery = await firstDelivery(local.received, 20);
    const event = new Webhook(endpoint.secret).verify(delivery.body, delivery.headers) as {
      type: string;
      data: { id: number; status: string };
    };
    assert(event.type === 'video.ready', `event ${event.type}`);
    assert(event.data.id === video.id && event.data.status === 'ready', 'the event carries the VideoRead');
    let wrongSecretRefused = false;
    try {
      new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(delivery.body, delivery.headers);
    } catch {
      wrongSecretRefused = true;
    }
    assert(wrongSecretRefused, 'a delivery verified with another secret');
    console.log(`ok  video.ready delivered, signature verified by standardwebhooks (${delivery.headers['webhook-id']})`);

    const deliveries = await listWebhookDeliveries({ path: { webhook_id: endpoint.id } });
    assert(deliveries.data?.data[0]?.message_id === delivery.headers['webhook-id'], 'the delivery is listed');
    const rotated = await rotateWebhookSecret({ path: { webhook_id: endpoint.id } });
    assert(rotated.data !== undefined && rotated.data.secret !== endpoint.secret, 'rotation gives a new secret');
    const deleted = await deleteWebhook({ path: { webhook_id: endpoint.id } });
    assert(deleted.response.status === 204, `DELETE /webhooks/{id} status ${deleted.response.status}`);
    console.log('ok  deliveries listed, secret rotated, endpoint deleted');
  } finally {
    local.close();
  }
}
