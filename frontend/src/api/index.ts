// The one door to the API: pages import from here, never from the generated src/client/.
export * from './endpoints';
export { ApiError, authFetch, errorFrom } from './http';
export { followJob } from './events';
export { uploadVideo, UploadCanceled, type Upload, type UploadProgress } from './upload';
export { refreshSession, sessionStatus, subscribe, type SessionStatus } from './session';
export type {
  AiUsageLogRead as AiUsage,
  JobKindRead as JobKind,
  ProcessingJobRead as Job,
  SearchHit,
  SummaryRead as Summary,
  TranscriptRead as Transcript,
  TranscriptSegment as Segment,
  UserRead as User,
  VideoSourceRead as Video,
  WebhookDeliveryRead as WebhookDelivery,
  WebhookEndpointRead as Webhook,
  WebhookEndpointWithSecret as WebhookWithSecret,
} from '../client/types.gen';
