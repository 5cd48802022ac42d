import { ApiError } from '../api';

/** A failure's message for people: the API's reason, or a plain sentence. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429 && error.retryAfter) return `${error.message} (try again in ${error.retryAfter} s)`;
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

/** An error shown where it happened and announced to screen readers. */
export function ErrorText({ error, testId, id }: { error: unknown; testId?: string; id?: string }) {
  if (!error) return null;
  return (
    <p className="error" role="alert" data-testid={testId} id={id}>
      {errorMessage(error)}
    </p>
  );
}
