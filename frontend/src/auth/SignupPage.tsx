import { Link } from 'react-router';

import { signUp } from '../api';
import { useTitle } from '../common/useTitle';
import { AuthForm } from './AuthForm';

export function SignupPage() {
  useTitle('Sign up');
  return (
    <section className="narrow" aria-labelledby="signup-title">
      <h1 id="signup-title">Create an account</h1>
      <AuthForm
        name="signup"
        submitLabel="Sign up"
        passwordAutoComplete="new-password"
        onSubmit={({ email, password }) => signUp(email, password)}
        passwordHint="At least 8 characters."
      />
      <p>
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </section>
  );
}
