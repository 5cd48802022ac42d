import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';

import { requestPasswordReset } from '../api';
import { ErrorText } from '../common/ErrorText';
import { useTitle } from '../common/useTitle';

export function ForgotPasswordPage() {
  useTitle('Forgot password');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    try {
      await requestPasswordReset(String(new FormData(event.currentTarget).get('email')));
      setSent(true);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section className="narrow" aria-labelledby="forgot-title">
      <h1 id="forgot-title">Forgot your password?</h1>
      {sent ? (
        <p role="status">
          If an account has this address, a link to choose a new password is on its way. It works
          for 30 minutes. (On a development server the mail goes where SMTP_HOST points, or to
          the server's log.)
        </p>
      ) : (
        <form className="card form" onSubmit={submit}>
          <label>
            Email
            <input name="email" type="email" autoComplete="email" required />
          </label>
          <ErrorText error={error} />
          <button type="submit" className="primary">
            Send me a link
          </button>
        </form>
      )}
      <p>
        <Link to="/login">Back to log in</Link>
      </p>
    </section>
  );
}
