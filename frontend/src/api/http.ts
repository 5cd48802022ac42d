// Every request of the app goes through here: the bearer token attached, one refresh and one
// retry on a 401, and the API's `{"detail": ...}` turned into an ApiError a page can show.
import { client } from '../client/client.gen';
import { currentToken, freshToken, refreshSession } from './session';

export class ApiError extends Error {
  readonly status: number;
  readonly retryAfter: number | null;

  constructor(status: number, message: string, retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

interface ValidationProblem {
  loc?: unknown[];
  msg?: string;
}

/** The sentence of an error body: `{"detail": str}`, or a 422's list of problems. */
export function describeDetail(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null | undefined)?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((problem: ValidationProblem) => {
        const field = problem.loc?.filter((part) => part !== 'body' && part !== 'query').join('.');
        return field ? `${field}: ${problem.msg ?? 'invalid'}` : (problem.msg ?? 'invalid');
      })
      .join('; ');
  }
  if (status === 0) return 'The server could not be reached. Check your connection and try again.';
  return `The server answered ${status}.`;
}

/** An ApiError from a failed Response (reads its JSON body if it has one). */
export async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  const retry = Number(response.headers.get('Retry-After'));
  return new ApiError(response.status, describeDetail(body, response.status), retry > 0 ? retry : null);
}

function isSessionRoute(url: string): boolean {
  return new URL(url, location.origin).pathname.startsWith('/auth/');
}

async function send(input: RequestInfo, init?: RequestInit): Promise<Response> {
  return fetch(input, { credentials: 'same-origin', ...init });
}

/**
 * fetch with `Authorization: Bearer`, refreshed once on a 401 (a refused refresh ends the
 * session, which takes the user to the log-in page). For thumbnails, captions and downloads.
 */
export async function authFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const withToken = (token: string | null): RequestInit => {
    const headers = new Headers(init.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return { ...init, headers };
  };
  const response = await send(url, withToken(await freshToken()));
  if (response.status !== 401 || isSessionRoute(url) || !(await refreshSession())) return response;
  return send(url, withToken(currentToken()));
}

/** The generated client's fetch: the same one-refresh-and-retry as authFetch. */
async function clientFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  const spare = request.clone();
  const response = await fetch(request);
  if (response.status !== 401 || isSessionRoute(request.url) || !(await refreshSession())) {
    return response;
  }
  spare.headers.set('Authorization', `Bearer ${currentToken() ?? ''}`);
  return fetch(spare);
}

client.setConfig({
  baseUrl: '',
  credentials: 'same-origin',
  auth: async () => (await freshToken()) ?? undefined,
  fetch: clientFetch,
});

interface Answer<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

/** The data of a generated SDK call, or an ApiError with the API's reason. */
export async function call<T>(request: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await request;
  if (!response) throw new ApiError(0, describeDetail(null, 0));
  if (!response.ok) {
    const retry = Number(response.headers.get('Retry-After'));
    throw new ApiError(response.status, describeDetail(error, response.status), retry > 0 ? retry : null);
  }
  return data as T;
}
