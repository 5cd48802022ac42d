import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { FormEvent } from 'react';

import { createWebhook, type WebhookWithSecret } from '../../api';
import { ErrorText } from '../../common/ErrorText';
import { EVENTS, type WebhookEvent } from './events';

/** Add an endpoint; its secret comes back once, for the caller to show. */
export function WebhookForm({ onCreated }: { onCreated: (endpoint: WebhookWithSecret) => void }) {
  const queryClient = useQueryClient();
  const create = useMutation({
    mutationFn: createWebhook,
    onSuccess: (endpoint) => {
      void queryClient.invalidateQueries({ queryKey: ['webhooks'] });
      onCreated(endpoint);
    },
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = new FormData(form);
    const description = String(fields.get('description') ?? '').trim();
    create.mutate(
      {
        url: String(fields.get('url')).trim(),
        events: fields.getAll('events').map(String) as WebhookEvent[],
        description: description || null,
      },
      { onSuccess: () => form.reset() },
    );
  };

  return (
    <form className="form" onSubmit={submit} aria-labelledby="webhook-add-title">
      <h3 id="webhook-add-title">Add an endpoint</h3>
      <label>
        URL that receives the events (http or https)
        <input name="url" type="url" required />
      </label>
      <label>
        Description (optional)
        <input name="description" maxLength={500} />
      </label>
      <fieldset className="checks">
        <legend>Events to send</legend>
        {EVENTS.map(({ event, words }) => (
          <label key={event} className="inline-label">
            <input type="checkbox" name="events" value={event} defaultChecked />
            {words} <code>{event}</code>
          </label>
        ))}
      </fieldset>
      <ErrorText error={create.error} />
      <button type="submit" className="primary" disabled={create.isPending}>
        Add endpoint
      </button>
    </form>
  );
}
