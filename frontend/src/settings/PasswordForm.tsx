import { useMutation } from '@tanstack/react-query';
import type { FormEvent } from 'react';

import { changePassword } from '../api';
import { ErrorText } from '../common/ErrorText';

export function PasswordForm() {
  const change = useMutation({
    mutationFn: ({ current, next }: { current: string; next: string }) => changePassword(current, next),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = new FormData(form);
    change.mutate(
      { current: String(fields.get('current')), next: String(fields.get('next')) },
      { onSuccess: () => form.reset() },
    );
  };
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">Change your password</h2>
      <form className="form" onSubmit={submit}>
        <label>
          Current password
          <input name="current" type="password" autoComplete="current-password" required />
        </label>
        <label>
          New password
          <input name="next" type="password" autoComplete="new-password" required minLength={8} aria-describedby="new-password-hint" />
        </label>
        <p className="hint" id="new-password-hint">
          At least 8 characters. Your other devices will be logged out.
        </p>
        <ErrorText error={change.error} />
        {change.isSuccess && <p role="status">Password changed. Other sessions are logged out.</p>}
        <button type="submit" className="primary" disabled={change.isPending}>
          Change password
        </button>
      </form>
    </section>
  );
}
