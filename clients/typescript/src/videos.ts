// The video part of the end-to-end check: upload a generated clip through the SDK and wait
// until the server's worker has made it `ready`. Needs E2E_VIDEO_FILE (a small MP4).
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import {
  type ProcessingJobRead,
  type VideoSourceRead,
  createVideoJob,
  getJob,
  getJobResult,
  getVideo,
  getVideoCaptions,
  getVideoSummary,
  getVideoTranscript,
  listAiUsage,
  listCreditTransactions,
  listJobKinds,
  searchTranscripts,
  listVideoJobs,
  listVideos,
  uploadVideo,
} from './generated';

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`FAILED: ${message}`);
}

export async function checkVideos(): Promise<void> {
  const path = process.env.E2E_VIDEO_FILE;
  if (!path) {
    console.log('--  videos skipped (E2E_VIDEO_FILE not set)');
    return;
  }
  const video = await uploadReady(path);
  assert(video.width === 320 && video.height === 240, `size ${video.width}x${video.height}`);
  assert(video.video_codec === 'h264' && video.has_audio === true, 'codecs');
  assert(video.thumbnail_url === `/videos/${video.id}/thumbnail`, 'thumbnail_url');
  console.log(`ok  video ready: ${video.duration_seconds} s, ${video.width}x${video.height}`);

  const jobs = await listVideoJobs({ path: { video_id: video.id } });
  const ingest = jobs.data?.data[0];
  assert(ingest !== undefined && ingest.kind === 'ingest', 'the ingest job is listed');
  const job = await getJob({ path: { job_id: ingest.id } });
  assert(job.data?.status === 'succeeded' && job.data.progress === 1, 'ingest succeeded');
  const page = await listVideos({ query: { limit: 1 } });
  assert(page.data?.data[0]?.id === video.id && page.data.next_cursor === null, 'listed');
  console.log('ok  jobs and list');

  const missing = await getVideo({ path: { video_id: 999_999 } });
  assert(missing.response.status === 404, `unknown video status ${missing.response.status}`);
  assert(missing.error?.detail === 'Video not found', 'unknown video detail');
  console.log('ok  unknown video -> 404');

  await checkCredits(video);
  await checkTranscription();
}

/** Upload a file and wait until the server's worker has made the video `ready`. */
export async function uploadReady(path: string): Promise<VideoSourceRead> {
  const file = new Blob([await readFile(path)], { type: 'video/mp4' });
  const uploaded = await uploadVideo({ body: { file: new File([file], basename(path)) } });
  assert(uploaded.response.status === 201, `upload status ${uploaded.response.status}`);
  assert(uploaded.data !== undefined, 'upload returned no video');
  assert(uploaded.data.status === 'processing', `new video is ${uploaded.data.status}`);
  assert(uploaded.response.headers.get('location') === `/videos/${uploaded.data.id}`, 'Location');
  console.log(`ok  upload ${basename(path)} -> video ${uploaded.data.id}`);

  let video: VideoSourceRead = uploaded.data;
  const deadline = Date.now() + 30_000;
  while (video.status === 'processing') {
    assert(Date.now() < deadline, 'the video is still processing after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const polled = await getVideo({ path: { video_id: video.id } });
    assert(polled.data !== undefined, `GET /videos/${video.id} status ${polled.response.status}`);
    video = polled.data;
  }
  assert(video.status === 'ready', `video ended ${video.status}: ${JSON.stringify(video.error)}`);
  return video;
}

/** Poll a job until it has finished. */
async function finished(job: ProcessingJobRead, seconds: number): Promise<ProcessingJobRead> {
  const deadline = Date.now() + seconds * 1000;
  while (job.status === 'queued' || job.status === 'running') {
    assert(Date.now() < deadline, `${job.kind} is still running after ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const polled = await getJob({ path: { job_id: job.id } });
    assert(polled.data !== undefined, `GET /jobs/${job.id} status ${polled.response.status}`);
    job = polled.data;
  }
  return job;
}

/** Buy a transcription of a clip with speech (the server's local model, no network), read the
 * transcript and its WebVTT captions, and find the call in the AI usage. */
async function checkTranscription(): Promise<void> {
  const path = process.env.E2E_SPEECH_FILE;
  if (!path) {
    console.log('--  transcription skipped (E2E_SPEECH_FILE not set: espeak-ng missing)');
    return;
  }
  const kinds = await listJobKinds();
  const transcribe = kinds.data?.find((kind) => kind.kind === 'transcribe');
  assert(transcribe?.available === true && transcribe.price_per_minute === 2, 'transcribe for sale');
  const video = await uploadReady(path);
  const bought = await createVideoJob({
    path: { video_id: video.id },
    body: { kind: 'transcribe', options: { language: 'en' } },
  });
  assert(bought.response.status === 202 && bought.data !== undefined, 'transcribe bought');
  const job = await finished(bought.data, 120);
  assert(job.status === 'succeeded', `transcribe ended ${job.status}: ${JSON.stringify(job.error)}`);
  const transcript = await getVideoTranscript({ path: { video_id: video.id } });
  const text = transcript.data?.text.toLowerCase() ?? '';
  assert(text.includes('hello') && text.includes('captions'), `transcript: ${text}`);
  assert(transcript.data?.segments[0]?.words?.length !== 0, 'word times');
  console.log(`ok  transcribe -> "${transcript.data?.text.trim()}"`);
  const captions = await getVideoCaptions({
    path: { video_id: video.id },
    query: { format: 'vtt' },
    parseAs: 'text',
  });
  assert(captions.response.headers.get('content-type')?.startsWith('text/vtt') === true, 'vtt');
  assert(String(captions.data).startsWith('WEBVTT') && String(captions.data).includes('-->'), 'cues');
  const found = await searchTranscripts({ query: { q: 'caption*' } });
  const hit = found.data?.data[0];
  assert(hit?.video_id === video.id && hit.highlights.length > 0, 'search finds the spoken word');
  const [from, to] = hit.highlights[0] ?? [0, 0];
  console.log(`ok  search "caption*" -> "${hit.text.slice(from, to)}" at ${hit.start} s`);
  const usage = await listAiUsage();
  const call = usage.data?.data[0];
  assert(call?.job_id === job.id && call.provider === 'local' && (call.audio_seconds ?? 0) > 1, 'usage');
  console.log(`ok  captions (WebVTT) and the usage row (${call.audio_seconds} s of audio)`);
  await checkSummary(video);
}

/** Buy a summary of the transcribed video from the test's OpenAI-compatible server (scripted
 * through its control route to answer a valid summary) and read it. */
async function checkSummary(video: VideoSourceRead): Promise<void> {
  const provider = process.env.E2E_OPENAI_URL;
  if (!provider) {
    console.log('--  summary skipped (E2E_OPENAI_URL not set)');
    return;
  }
  const scripted = await fetch(`${provider}/_control/script`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ endpoint: 'chat/completions', responses: [{ summarize: true }] }),
  });
  assert(scripted.ok, `scripting the test provider: ${scripted.status}`);
  const bought = await createVideoJob({ path: { video_id: video.id }, body: { kind: 'summarize' } });
  assert(bought.response.status === 202 && bought.data !== undefined, 'summarize bought');
  const job = await finished(bought.data, 60);
  assert(job.status === 'succeeded', `summarize ended ${job.status}: ${JSON.stringify(job.error)}`);
  const summary = await getVideoSummary({ path: { video_id: video.id } });
  assert(summary.data !== undefined && summary.data.summary.length > 0, 'a summary');
  assert(summary.data.chapters[0]?.start === 0, 'the first chapter starts at 0');
  const usage = await listAiUsage();
  const call = usage.data?.data[0];
  assert(call?.job_id === job.id && call.tokens_input > 0, 'the chat call is accounted');
  console.log(`ok  summarize -> ${summary.data.chapters.length} chapters, keywords ${summary.data.keywords.join(', ')}`);
}

/** Buy extract_audio (the server gives new users DEFAULT_CREDITS), retry it with the same
 * Idempotency-Key, download the FLAC and read the charge in the history. */
async function checkCredits(video: VideoSourceRead): Promise<void> {
  const key = `e2e-${Date.now()}`;
  const buy = () =>
    createVideoJob({
      path: { video_id: video.id },
      body: { kind: 'extract_audio' },
      headers: { 'Idempotency-Key': key },
    });
  const bought = await buy();
  assert(bought.response.status === 202, `extract_audio status ${bought.response.status}`);
  assert(bought.data !== undefined && bought.data.credits_charged === 1, 'charged 1 credit');
  const replayed = await buy();
  assert(replayed.response.headers.get('idempotent-replayed') === 'true', 'the retry is replayed');
  assert(replayed.data?.id === bought.data.id, 'the retry answers with the same job');
  console.log(`ok  extract_audio -> job ${bought.data.id}, 1 credit; the retry replays it`);

  const job = await finished(bought.data, 30);
  assert(job.status === 'succeeded' && job.result_url === `/jobs/${job.id}/result`, 'succeeded');
  const result = await getJobResult({ path: { job_id: job.id }, parseAs: 'blob' });
  assert(result.response.status === 200, `result status ${result.response.status}`);
  assert(result.response.headers.get('content-type') === 'audio/flac', 'result is audio/flac');
  const history = await listCreditTransactions();
  const charge = history.data?.data[0];
  assert(charge?.kind === 'charge' && charge.delta === -1 && charge.job_id === job.id, 'charge');
  console.log('ok  FLAC downloaded; the charge is in the history');
}
