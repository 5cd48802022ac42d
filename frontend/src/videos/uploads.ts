// The uploads under way, kept outside any page so they go on (and stay visible) while the person
// looks at other pages of the app.
import { useSyncExternalStore } from 'react';

import { UploadCanceled, type UploadProgress, uploadVideo, type Video } from '../api';

export interface UploadEntry {
  key: number;
  name: string;
  size: number;
  progress: UploadProgress | null;
  /** uploading: bytes going up; storing: all sent, the API checks and stores; failed: refused. */
  state: 'uploading' | 'storing' | 'failed';
  error: unknown;
  cancel: () => void;
}

let entries: UploadEntry[] = [];
let nextKey = 1;
const listeners = new Set<() => void>();

function set(next: UploadEntry[]): void {
  entries = next;
  for (const listener of listeners) listener();
}

function patch(key: number, change: Partial<UploadEntry>): void {
  set(entries.map((entry) => (entry.key === key ? { ...entry, ...change } : entry)));
}

function remove(key: number): void {
  set(entries.filter((entry) => entry.key !== key));
}

function warnBeforeLeaving(event: BeforeUnloadEvent): void {
  if (entries.some((entry) => entry.state !== 'failed')) event.preventDefault();
}
window.addEventListener('beforeunload', warnBeforeLeaving);

/** Start sending `file`; `onStored` runs once the API has it (the list then shows it). */
export function startUpload(file: File, onStored: (video: Video) => void): void {
  const key = nextKey++;
  const upload = uploadVideo(file, (progress) =>
    patch(key, { progress, state: progress.sent ? 'storing' : 'uploading' }),
  );
  set([
    ...entries,
    { key, name: file.name, size: file.size, progress: null, state: 'uploading', error: null, cancel: upload.cancel },
  ]);
  upload.done.then(
    (video) => {
      remove(key);
      onStored(video);
    },
    (error: unknown) => {
      if (error instanceof UploadCanceled) remove(key);
      else patch(key, { state: 'failed', error });
    },
  );
}

export function dismissUpload(key: number): void {
  remove(key);
}

export function useUploads(): UploadEntry[] {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => entries,
  );
}
