import { useMutation, useQuery } from '@tanstack/react-query';

import { getMe, logOutEverywhere, requestEmailVerification } from '../api';
import { ErrorText } from '../common/ErrorText';
import { formatDate } from '../common/format';

export function Account() {
  const me = useQuery({ queryKey: ['me'], queryFn: getMe });
  const everywhere = useMutation({ mutationFn: logOutEverywhere });
  const verify = useMutation({ mutationFn: requestEmailVerification });
  return (
    <section className="card" aria-labelledby="account-title">
      <h2 id="account-title">Account</h2>
      {me.data && (
        <dl className="details">
          <div>
            <dt>Email</dt>
            <dd>
              {me.data.email} {me.data.email_verified ? '(verified)' : '(not verified)'}
            </dd>
          </div>
          <div>
            <dt>Credits</dt>
            <dd>{me.data.credits}</dd>
          </div>
          <div>
            <dt>Member since</dt>
            <dd>{formatDate(me.data.created_at)}</dd>
          </div>
        </dl>
      )}
      {me.data && !me.data.email_verified && (
        <p>
          <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending || verify.isSuccess}>
            Send me a verification link
          </button>
          {verify.isSuccess && <span role="status"> Sent: follow the link in the email.</span>}
        </p>
      )}
      <button type="button" onClick={() => everywhere.mutate()} disabled={everywhere.isPending}>
        Log out on every device
      </button>
      <ErrorText error={me.error ?? everywhere.error ?? verify.error} />
    </section>
  );
}
