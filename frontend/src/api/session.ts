// The browser session. The access token lives in this module's memory only; the refresh token is
// an HttpOnly cookie (Path=/auth) that the app never sees: `POST /auth/refresh?cookie=true` turns
// it into a new access token (and rotates it). Nothing of a session is written to the browser's
// web storage or IndexedDB.

export type SessionStatus = 'unknown' | 'in' | 'out';

interface Token {
  access_token: string;
  expires_in: number;
}

let accessToken: string | null = null;
let expiresAt = 0; // ms since the epoch
let lifetimeMs = 0;
let status: SessionStatus = 'unknown';
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function sessionStatus(): SessionStatus {
  return status;
}

/** Keep a token from /auth/login or /auth/refresh; null ends the session in this tab. */
export function setSession(token: Token | null): void {
  accessToken = token?.access_token ?? null;
  lifetimeMs = (token?.expires_in ?? 0) * 1000;
  expiresAt = Date.now() + lifetimeMs;
  const next: SessionStatus = token ? 'in' : 'out';
  if (next !== status) {
    status = next;
    notify();
  }
}

/** The token as it is now (possibly expired: the caller refreshes on 401). */
export function currentToken(): string | null {
  return accessToken;
}

/** The token, refreshed first when it is about to expire (saves a 401 round trip). */
export async function freshToken(): Promise<string | null> {
  const margin = Math.min(15_000, lifetimeMs / 4);
  if (accessToken && Date.now() > expiresAt - margin) await refreshSession();
  return accessToken;
}

async function postRefresh(): Promise<boolean> {
  try {
    const response = await fetch('/auth/refresh?cookie=true', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
      credentials: 'same-origin',
    });
    if (!response.ok) {
      setSession(null);
      return false;
    }
    setSession((await response.json()) as Token);
    return true;
  } catch {
    // The network failed: keep what we have; the next call tries again.
    if (status === 'unknown') setSession(null);
    return false;
  }
}

/**
 * One refresh at a time, also across tabs (Web Locks): the refresh token is single-use, and two
 * refreshes with the same cookie would look like a stolen token and end the session.
 */
export function refreshSession(): Promise<boolean> {
  if (refreshing) return refreshing;
  const locked = navigator.locks
    ? (navigator.locks.request('video-ai-refresh', postRefresh) as Promise<unknown> as Promise<boolean>)
    : postRefresh();
  const running = locked.finally(() => {
    refreshing = null;
  });
  refreshing = running;
  return running;
}
