import { useQuery } from '@tanstack/react-query';

import { listJobKinds } from '../api';
import { ErrorText } from '../common/ErrorText';

/** What each kind of AI job costs (GET /job-kinds). */
export function Prices() {
  const kinds = useQuery({ queryKey: ['job-kinds'], queryFn: listJobKinds, staleTime: 5 * 60_000 });
  return (
    <section className="card" aria-labelledby="prices-title">
      <h2 id="prices-title">Prices</h2>
      <ErrorText error={kinds.error} />
      {kinds.data && (
        <ul className="prices">
          {kinds.data.map((kind) => (
            <li key={kind.kind}>
              <strong>{kind.kind}</strong>: {kind.price_per_minute} credit{kind.price_per_minute === 1 ? '' : 's'} per
              started minute
              {!kind.available && <span className="muted"> (not available on this server)</span>}
              <br />
              <span className="muted">{kind.description}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
