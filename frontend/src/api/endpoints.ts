// The API as the pages use it: one function per call, each returning the data or throwing an
// ApiError. Built on the SDK generated from openapi.json (src/client/, never edited by hand).
import * as sdk from '../client/sdk.gen';
import type {
  AiUsagePage,
  JobKindRead,
  ProcessingJobRead,
  SearchPage,
  SummaryRead,
  TranscriptRead,
  UserRead,
  VideoPage,
  VideoSourceRead,
  WebhookDeliveryPage,
  WebhookDeliveryRead,
  WebhookEndpointCreate,
  WebhookEndpointRead,
  WebhookEndpointUpdate,
  WebhookEndpointWithSecret,
} from '../client/types.gen';
import { ApiError, call } from './http';
import { refreshSession, setSession } from './session';

/** The data, or null when the API answers 404 (no transcript yet, no summary yet). */
async function orNull<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** A random key (crypto.randomUUID needs a secure context; plain http on a LAN is not one). */
function uniqueKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

// --- session -------------------------------------------------------------------------------

export async function logIn(email: string, password: string): Promise<void> {
  setSession(await call(sdk.login({ body: { email, password }, query: { cookie: true } })));
}

export async function signUp(email: string, password: string): Promise<void> {
  await call(sdk.register({ body: { email, password } }));
  await logIn(email, password);
}

export async function logOut(): Promise<void> {
  try {
    await call(sdk.logout({ query: { cookie: true }, body: {} }));
  } finally {
    setSession(null);
  }
}

export const requestPasswordReset = (email: string) =>
  call(sdk.requestPasswordReset({ body: { email } }));
export const resetPassword = (token: string, newPassword: string) =>
  call(sdk.resetPassword({ body: { token, new_password: newPassword } }));
export const requestEmailVerification = () => call(sdk.requestEmailVerification());
export const verifyEmail = (token: string) => call(sdk.verifyEmail({ body: { token } }));
/** The other sessions end; this one keeps its refresh cookie and gets a new access token. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await call(sdk.changePassword({ body: { current_password: currentPassword, new_password: newPassword } }));
  await refreshSession();
}

/** Every session of the account ends, this one too. */
export async function logOutEverywhere(): Promise<void> {
  await call(sdk.logoutEverywhere());
  setSession(null);
}

export async function deleteAccount(password: string): Promise<void> {
  await call(sdk.deleteAccount({ body: { password } }));
  setSession(null);
}

// --- account -------------------------------------------------------------------------------

export const getMe = (): Promise<UserRead> => call(sdk.getMe());
export const listAiUsage = (cursor: string | null): Promise<AiUsagePage> =>
  call(sdk.listAiUsage({ query: { limit: 20, cursor } }));
export const listJobKinds = (): Promise<JobKindRead[]> => call(sdk.listJobKinds());

// --- videos --------------------------------------------------------------------------------

export const listVideos = (cursor: string | null): Promise<VideoPage> =>
  call(sdk.listVideos({ query: { limit: 20, cursor } }));
export const getVideo = (id: number): Promise<VideoSourceRead> =>
  call(sdk.getVideo({ path: { video_id: id } }));
export const addVideoByLink = (url: string): Promise<VideoSourceRead> =>
  call(sdk.createVideoFromLink({ body: { url } }));
export const deleteVideo = (id: number) => call(sdk.deleteVideo({ path: { video_id: id } }));
export const getPlayback = (id: number) => call(sdk.createPlaybackUrl({ path: { video_id: id } }));
export const getTranscript = (id: number): Promise<TranscriptRead | null> =>
  orNull(call(sdk.getVideoTranscript({ path: { video_id: id } })));
export const getSummary = (id: number): Promise<SummaryRead | null> =>
  orNull(call(sdk.getVideoSummary({ path: { video_id: id } })));

// --- jobs ----------------------------------------------------------------------------------

export const listVideoJobs = (id: number): Promise<ProcessingJobRead[]> =>
  call(sdk.listVideoJobs({ path: { video_id: id }, query: { limit: 100 } })).then((page) => page.data);
export const buyJob = (videoId: number, kind: string, options: Record<string, unknown> | null) =>
  call(
    sdk.createVideoJob({
      path: { video_id: videoId },
      body: { kind, options },
      headers: { 'Idempotency-Key': uniqueKey() },
    }),
  );
export const cancelJob = (id: number): Promise<ProcessingJobRead> =>
  call(sdk.cancelJob({ path: { job_id: id } }));

// --- search --------------------------------------------------------------------------------

export const search = (q: string, cursor: string | null): Promise<SearchPage> =>
  call(sdk.searchTranscripts({ query: { q, limit: 20, cursor } }));

// --- webhooks ------------------------------------------------------------------------------

export const listWebhooks = (): Promise<WebhookEndpointRead[]> => call(sdk.listWebhooks());
export const createWebhook = (body: WebhookEndpointCreate): Promise<WebhookEndpointWithSecret> =>
  call(sdk.createWebhook({ body }));
export const updateWebhook = (id: number, body: WebhookEndpointUpdate): Promise<WebhookEndpointRead> =>
  call(sdk.updateWebhook({ path: { webhook_id: id }, body }));
export const deleteWebhook = (id: number) => call(sdk.deleteWebhook({ path: { webhook_id: id } }));
export const rotateWebhookSecret = (id: number): Promise<WebhookEndpointWithSecret> =>
  call(sdk.rotateWebhookSecret({ path: { webhook_id: id } }));
export const listWebhookDeliveries = (id: number, cursor: string | null): Promise<WebhookDeliveryPage> =>
  call(sdk.listWebhookDeliveries({ path: { webhook_id: id }, query: { limit: 20, cursor } }));
export const redeliverWebhook = (id: number, deliveryId: number): Promise<WebhookDeliveryRead> =>
  call(sdk.redeliverWebhook({ path: { webhook_id: id, delivery_id: deliveryId } }));
