import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { listWebhooks, type WebhookWithSecret } from '../../api';
import { ErrorText } from '../../common/ErrorText';
import { Loading } from '../../common/Loading';
import { SecretNotice } from './SecretNotice';
import { WebhookForm } from './WebhookForm';
import { WebhookItem } from './WebhookItem';

/** Endpoints that hear about the user's videos and jobs (signed per Standard Webhooks). */
export function Webhooks() {
  const webhooks = useQuery({ queryKey: ['webhooks'], queryFn: listWebhooks });
  const [secret, setSecret] = useState<WebhookWithSecret | null>(null);
  return (
    <section className="card" aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      {secret && <SecretNotice endpoint={secret} onDone={() => setSecret(null)} />}
      {webhooks.isPending && <Loading />}
      <ErrorText error={webhooks.error} />
      {webhooks.data?.length === 0 && <p className="empty">No endpoints yet.</p>}
      {webhooks.data && webhooks.data.length > 0 && (
        <ul className="webhooks">
          {webhooks.data.map((endpoint) => (
            <WebhookItem key={endpoint.id} endpoint={endpoint} onSecret={setSecret} />
          ))}
        </ul>
      )}
      <WebhookForm onCreated={setSecret} />
    </section>
  );
}
