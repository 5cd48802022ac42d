import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';

import { listWebhookDeliveries, redeliverWebhook } from '../../api';
import { ErrorText } from '../../common/ErrorText';
import { formatDate } from '../../common/format';
import { Loading } from '../../common/Loading';

/** An endpoint's deliveries, newest first, each one can be sent again. */
export function Deliveries({ webhookId }: { webhookId: number }) {
  const queryClient = useQueryClient();
  const key = ['webhooks', webhookId, 'deliveries'];
  const deliveries = useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam }) => listWebhookDeliveries(webhookId, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });
  const redeliver = useMutation({
    mutationFn: (deliveryId: number) => redeliverWebhook(webhookId, deliveryId),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: key }),
  });
  const rows = deliveries.data?.pages.flatMap((page) => page.data) ?? [];

  if (deliveries.isPending) return <Loading />;
  return (
    <div className="deliveries">
      <ErrorText error={deliveries.error ?? redeliver.error} />
      {rows.length === 0 ? (
        <p className="empty">No deliveries yet.</p>
      ) : (
        <div className="table-wrap" role="region" aria-label={`Deliveries of endpoint ${webhookId}, scrollable`} tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">Next attempt</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((delivery) => (
                <tr key={delivery.id}>
                  <td>{formatDate(delivery.created_at)}</td>
                  <td>
                    <code>{delivery.event}</code>
                  </td>
                  <td className={`status status-${delivery.status === 'pending' ? 'queued' : delivery.status}`}>{delivery.status}</td>
                  <td>{delivery.attempts}</td>
                  <td>{delivery.last_error ?? delivery.last_status_code ?? '–'}</td>
                  <td>{delivery.next_attempt_at ? formatDate(delivery.next_attempt_at) : '–'}</td>
                  <td>
                    <button
                      type="button"
                      className="small"
                      onClick={() => redeliver.mutate(delivery.id)}
                      aria-label={`Send delivery ${delivery.id} (${delivery.event}) again`}
                    >
                      Redeliver
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {deliveries.hasNextPage && (
        <button type="button" onClick={() => void deliveries.fetchNextPage()} disabled={deliveries.isFetchingNextPage}>
          More deliveries
        </button>
      )}
    </div>
  );
}
