import { useQueryClient } from '@tanstack/react-query';
import { type DragEvent, useState } from 'react';

import { errorMessage } from '../common/ErrorText';
import { formatBytes } from '../common/format';
import { ProgressBar } from '../common/ProgressBar';
import { dismissUpload, startUpload, type UploadEntry, useUploads } from './uploads';
import { showNewVideo } from './VideoList';

function UploadRow({ entry }: { entry: UploadEntry }) {
  const { progress } = entry;
  const total = progress?.total || entry.size;
  const loaded = progress?.loaded ?? 0;
  const fraction = total > 0 ? loaded / total : 0;
  const percent = Math.round(fraction * 100);
  const speed = progress?.bytesPerSecond;
  return (
    <li className="upload-row">
      <div className="upload-head">
        <strong className="file-name">{entry.name}</strong>
        {entry.state !== 'failed' ? (
          <button type="button" className="small" onClick={entry.cancel} aria-label={`Cancel the upload of ${entry.name}`}>
            Cancel
          </button>
        ) : (
          <button type="button" className="small" onClick={() => dismissUpload(entry.key)} aria-label={`Dismiss ${entry.name}`}>
            Dismiss
          </button>
        )}
      </div>
      {entry.state === 'failed' ? (
        <p className="error" role="alert">
          Not uploaded: {errorMessage(entry.error)}
        </p>
      ) : (
        <>
          <ProgressBar
            value={fraction}
            label={`Upload of ${entry.name}`}
            testId="upload-progress"
            valueText={`${percent}%, ${formatBytes(loaded)} of ${formatBytes(total)}`}
          />
          <p className="upload-figures" aria-live="off">
            {entry.state === 'storing' ? (
              <span role="status">Processing… (all {formatBytes(total)} sent; the server is storing and checking the file)</span>
            ) : (
              <>
                {formatBytes(loaded)} of {formatBytes(total)} · {percent}%
                {speed ? ` · ${formatBytes(speed)}/s` : ''}
              </>
            )}
          </p>
        </>
      )}
    </li>
  );
}

/** Choose files or drop them here; each goes up with its own progress bar. */
export function UploadPanel() {
  const queryClient = useQueryClient();
  const uploads = useUploads();
  const [dragging, setDragging] = useState(false);

  const upload = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      startUpload(file, (video) => showNewVideo(queryClient, video));
    }
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    upload(event.dataTransfer.files);
  };

  return (
    <section className="card" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a video</h2>
      <div
        className={dragging ? 'drop-zone dragging' : 'drop-zone'}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <label className="file-label">
          Choose video files
          <input
            type="file"
            accept="video/*,.mkv,.ts,.flv"
            multiple
            data-testid="upload-input"
            onChange={(event) => {
              upload(event.currentTarget.files);
              event.currentTarget.value = '';
            }}
          />
        </label>
        <p className="hint">or drop them here (MP4, MOV, WebM, MKV, AVI, MPEG-TS, FLV)</p>
      </div>
      {uploads.length > 0 && <ul className="uploads">{uploads.map((entry) => <UploadRow key={entry.key} entry={entry} />)}</ul>}
    </section>
  );
}
