import { Link } from 'react-router';

import { useTitle } from './useTitle';

/** A missing page, or a video that does not exist or is someone else's (the API says 404 alike). */
export function NotFound({ what = 'page' }: { what?: string }) {
  useTitle('Not found');
  return (
    <section className="not-found" aria-labelledby="not-found-title">
      <h1 id="not-found-title">Not found</h1>
      <p>This {what} does not exist, or it is not yours.</p>
      <p>
        <Link to="/videos">Back to your videos</Link>
      </p>
    </section>
  );
}
