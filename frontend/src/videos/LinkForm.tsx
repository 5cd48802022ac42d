import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { addVideoByLink } from '../api';
import { ErrorText } from '../common/ErrorText';
import { showNewVideo } from './VideoList';

/** Add a video by the http(s) link of its file; the server downloads it. */
export function LinkForm() {
  const queryClient = useQueryClient();
  const [url, setUrl] = useState('');
  const add = useMutation({
    mutationFn: addVideoByLink,
    onSuccess: (video) => {
      setUrl('');
      showNewVideo(queryClient, video);
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate(url.trim());
  };

  return (
    <section className="card" aria-labelledby="link-title">
      <h2 id="link-title">Add by link</h2>
      <form className="inline-form" onSubmit={submit}>
        <label className="grow">
          Link to a video file (http or https)
          <input
            type="url"
            required
            value={url}
            onChange={(event) => setUrl(event.target.value)}
            data-testid="link-url"
          />
        </label>
        <button type="submit" className="primary" disabled={add.isPending} data-testid="link-submit">
          Add
        </button>
      </form>
      {add.isSuccess && <p role="status">Added: the server is fetching it.</p>}
      <ErrorText error={add.error} />
    </section>
  );
}
