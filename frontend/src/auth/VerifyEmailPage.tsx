import { useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';

import { verifyEmail } from '../api';
import { ErrorText } from '../common/ErrorText';
import { Loading } from '../common/Loading';
import { useTitle } from '../common/useTitle';

/** The page of the emailed link `{FRONTEND_URL}/verify-email?token=...`. */
export function VerifyEmailPage() {
  useTitle('Verify your email');
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const result = useQuery({
    queryKey: ['verify-email', token],
    queryFn: () => verifyEmail(token),
    enabled: token !== '',
    retry: false,
    staleTime: Infinity,
  });

  return (
    <section className="narrow" aria-labelledby="verify-title">
      <h1 id="verify-title">Verify your email</h1>
      {!token && <p className="error">This link has no token. Open the link from the email again.</p>}
      {result.isPending && token && <Loading label="Checking the link…" />}
      {result.isSuccess && <p role="status">Your address is verified. Thank you.</p>}
      <ErrorText error={result.error} />
      <p>
        <Link to="/videos">Go to your videos</Link>
      </p>
    </section>
  );
}
