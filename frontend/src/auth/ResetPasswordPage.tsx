import { type FormEvent, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { resetPassword } from '../api';
import { ErrorText } from '../common/ErrorText';
import { useTitle } from '../common/useTitle';

/** The page of the emailed link `{FRONTEND_URL}/reset-password?token=...`. */
export function ResetPasswordPage() {
  useTitle('Choose a new password');
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    try {
      await resetPassword(token, String(new FormData(event.currentTarget).get('password')));
      setDone(true);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section className="narrow" aria-labelledby="reset-title">
      <h1 id="reset-title">Choose a new password</h1>
      {done ? (
        <p role="status">
          Your password is changed and every session is ended. <Link to="/login">Log in</Link> with
          the new one.
        </p>
      ) : !token ? (
        <p className="error">This link has no token. Open the link from the email again.</p>
      ) : (
        <form className="card form" onSubmit={submit}>
          <label>
            New password
            <input
              name="password"
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              aria-describedby="reset-hint"
            />
          </label>
          <p className="hint" id="reset-hint">At least 8 characters.</p>
          <ErrorText error={error} />
          <button type="submit" className="primary">
            Set the password
          </button>
        </form>
      )}
    </section>
  );
}
