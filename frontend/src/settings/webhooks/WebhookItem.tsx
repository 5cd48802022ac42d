import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { deleteWebhook, rotateWebhookSecret, updateWebhook, type Webhook, type WebhookWithSecret } from '../../api';
import { ErrorText } from '../../common/ErrorText';
import { formatDate } from '../../common/format';
import { Deliveries } from './Deliveries';

interface Props {
  endpoint: Webhook;
  onSecret: (endpoint: WebhookWithSecret) => void;
}

export function WebhookItem({ endpoint, onSecret }: Props) {
  const queryClient = useQueryClient();
  const [showDeliveries, setShowDeliveries] = useState(false);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ['webhooks'] });
  const toggle = useMutation({ mutationFn: () => updateWebhook(endpoint.id, { enabled: !endpoint.enabled }), onSuccess: refresh });
  const rotate = useMutation({ mutationFn: () => rotateWebhookSecret(endpoint.id), onSuccess: onSecret });
  const remove = useMutation({ mutationFn: () => deleteWebhook(endpoint.id), onSuccess: refresh });
  const deliveriesId = `webhook-${endpoint.id}-deliveries`;

  return (
    <li className="webhook">
      <p className="file-name">
        <strong>{endpoint.url}</strong>{' '}
        <span className={endpoint.enabled ? 'status status-succeeded' : 'status status-canceled'}>
          {endpoint.enabled ? 'Enabled' : 'Disabled'}
        </span>
      </p>
      {endpoint.disabled_reason && <p className="error">{endpoint.disabled_reason}</p>}
      {endpoint.description && <p>{endpoint.description}</p>}
      <p className="muted small-print">
        {endpoint.events.join(', ')} · added {formatDate(endpoint.created_at)}
      </p>
      <div className="buttons">
        <button type="button" className="small" aria-expanded={showDeliveries} aria-controls={deliveriesId} onClick={() => setShowDeliveries(!showDeliveries)}>
          Deliveries
        </button>
        <button type="button" className="small" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
          {endpoint.enabled ? 'Disable' : 'Enable'}
        </button>
        <button
          type="button"
          className="small"
          onClick={() => {
            if (window.confirm('Make a new signing secret? The old one stops working at once.')) rotate.mutate();
          }}
          disabled={rotate.isPending}
        >
          Rotate secret
        </button>
        <button
          type="button"
          className="small danger"
          onClick={() => {
            if (window.confirm(`Delete the endpoint ${endpoint.url}?`)) remove.mutate();
          }}
          disabled={remove.isPending}
        >
          Delete
        </button>
      </div>
      <ErrorText error={toggle.error ?? rotate.error ?? remove.error} />
      <div id={deliveriesId}>{showDeliveries && <Deliveries webhookId={endpoint.id} />}</div>
    </li>
  );
}
