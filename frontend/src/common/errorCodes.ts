// The contract's error codes (a video's or a job's `error.code`) in words.
const WORDS: Record<string, string> = {
  unsupported_media: 'This file is not a video format the service can read.',
  unreadable_media: 'The file is damaged or cut short.',
  no_video_stream: 'The file has no picture.',
  no_audio: 'The video has no usable sound.',
  no_audio_stream: 'The video has no sound track.',
  duration_exceeded: 'The video is longer than allowed.',
  dimensions_exceeded: 'The picture is larger than allowed (8192 pixels a side).',
  file_too_large: 'The file is larger than allowed.',
  url_not_allowed: 'The link leads to an address that is not allowed.',
  download_failed: 'The link could not be downloaded.',
  canceled: 'Canceled.',
  internal_error: 'Something went wrong on our side.',
  provider_unavailable: 'The AI service could not be reached.',
  provider_rejected: 'The AI service refused the request.',
  provider_timeout: 'The AI service took too long to answer.',
};

export function errorInWords(error: { code: string; message: string } | null | undefined): string {
  if (!error) return '';
  return WORDS[error.code] ?? error.message;
}
