import { type FormEvent, useState } from 'react';

import { ErrorText } from '../common/ErrorText';

export interface AuthFields {
  email: string;
  password: string;
}

interface Props {
  /** The prefix of the data-testid hooks: `login` or `signup`. */
  name: 'login' | 'signup';
  submitLabel: string;
  passwordAutoComplete: 'current-password' | 'new-password';
  onSubmit: (fields: AuthFields) => Promise<void>;
  passwordHint?: string;
}

/** Email and password, as the log-in and sign-up pages both ask them. */
export function AuthForm({ name, submitLabel, passwordAutoComplete, onSubmit, passwordHint }: Props) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await onSubmit({ email: String(form.get('email')), password: String(form.get('password')) });
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={submit} aria-describedby={error ? `${name}-error` : undefined}>
      <label>
        Email
        <input name="email" type="email" autoComplete="email" required data-testid={`${name}-email`} />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete={passwordAutoComplete}
          required
          minLength={name === 'signup' ? 8 : undefined}
          aria-describedby={passwordHint ? `${name}-password-hint` : undefined}
          data-testid={`${name}-password`}
        />
      </label>
      {passwordHint && (
        <p className="hint" id={`${name}-password-hint`}>
          {passwordHint}
        </p>
      )}
      <ErrorText error={error} testId={`${name}-error`} id={`${name}-error`} />
      <button type="submit" className="primary" disabled={busy} data-testid={`${name}-submit`}>
        {submitLabel}
      </button>
    </form>
  );
}
