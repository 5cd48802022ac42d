import { useMutation } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { useNavigate } from 'react-router';

import { deleteAccount } from '../api';
import { ErrorText } from '../common/ErrorText';

export function DeleteAccount() {
  const navigate = useNavigate();
  const remove = useMutation({ mutationFn: deleteAccount, onSuccess: () => navigate('/signup', { replace: true }) });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!window.confirm('Delete your account, every video, transcript and summary? This cannot be undone.')) return;
    remove.mutate(String(new FormData(event.currentTarget).get('password')));
  };
  return (
    <section className="card danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete your account</h2>
      <p>Your videos, transcripts, summaries and credits are deleted for good.</p>
      <form className="form" onSubmit={submit}>
        <label>
          Your password, to confirm
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <ErrorText error={remove.error} />
        <button type="submit" className="danger" disabled={remove.isPending}>
          Delete my account
        </button>
      </form>
    </section>
  );
}
