import { Link } from 'react-router';

import { logIn } from '../api';
import { useTitle } from '../common/useTitle';
import { AuthForm } from './AuthForm';

export function LoginPage() {
  useTitle('Log in');
  return (
    <section className="narrow" aria-labelledby="login-title">
      <h1 id="login-title">Log in</h1>
      <AuthForm
        name="login"
        submitLabel="Log in"
        passwordAutoComplete="current-password"
        onSubmit={({ email, password }) => logIn(email, password)}
      />
      <p>
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
      <p>
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </section>
  );
}
