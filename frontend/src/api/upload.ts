// Upload one file to `POST /videos/upload` with XMLHttpRequest, the only browser API that reports
// upload progress. The browser streams the File from disk: it is never read into memory here.
import type { VideoSourceRead } from '../client/types.gen';
import { ApiError, describeDetail } from './http';
import { currentToken, freshToken, refreshSession } from './session';

export interface UploadProgress {
  loaded: number;
  total: number;
  /** Bytes per second over the last few seconds; null until there is a measure. */
  bytesPerSecond: number | null;
  /** All bytes are sent: the API is storing and checking the file. */
  sent: boolean;
}

export class UploadCanceled extends Error {
  constructor() {
    super('Upload canceled');
    this.name = 'UploadCanceled';
  }
}

export interface Upload {
  done: Promise<VideoSourceRead>;
  cancel(): void;
}

const SPEED_WINDOW_MS = 3000;

export function uploadVideo(file: File, onProgress: (progress: UploadProgress) => void): Upload {
  let xhr: XMLHttpRequest | null = null;
  let canceled = false;

  function send(token: string | null): Promise<XMLHttpRequest> {
    return new Promise((resolve, reject) => {
      if (canceled) {
        reject(new UploadCanceled());
        return;
      }
      const request = new XMLHttpRequest();
      xhr = request;
      const samples: { at: number; loaded: number }[] = [];
      request.open('POST', '/videos/upload');
      if (token) request.setRequestHeader('Authorization', `Bearer ${token}`);
      request.responseType = 'json';
      request.upload.onprogress = (event) => {
        const now = performance.now();
        samples.push({ at: now, loaded: event.loaded });
        while (samples.length > 2 && now - samples[0]!.at > SPEED_WINDOW_MS) samples.shift();
        const first = samples[0]!;
        const seconds = (now - first.at) / 1000;
        onProgress({
          loaded: event.loaded,
          total: event.lengthComputable ? event.total : file.size,
          bytesPerSecond: seconds > 0.2 ? (event.loaded - first.loaded) / seconds : null,
          sent: false,
        });
      };
      request.upload.onload = () =>
        onProgress({ loaded: file.size, total: file.size, bytesPerSecond: null, sent: true });
      request.onload = () => resolve(request);
      request.onerror = () => reject(new ApiError(0, describeDetail(null, 0)));
      request.onabort = () => reject(new UploadCanceled());
      const form = new FormData();
      form.append('file', file, file.name);
      request.send(form);
    });
  }

  async function run(): Promise<VideoSourceRead> {
    let request = await send(await freshToken());
    if (request.status === 401 && !canceled && (await refreshSession())) {
      request = await send(currentToken());
    }
    if (request.status === 201) return request.response as VideoSourceRead;
    const retry = Number(request.getResponseHeader('Retry-After'));
    throw new ApiError(request.status, describeDetail(request.response, request.status), retry > 0 ? retry : null);
  }

  return {
    done: run(),
    cancel: () => {
      canceled = true;
      xhr?.abort();
    },
  };
}
