import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';

import { Loading } from '../common/Loading';
import { useSession } from './useSession';

/** The page for a logged-in user; the log-in page (then back here) for anyone else. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const status = useSession();
  const location = useLocation();
  if (status === 'unknown') return <Loading />;
  if (status === 'out') return <Navigate to="/login" replace state={{ from: location }} />;
  return children;
}

/** The log-in and sign-up pages: a logged-in user goes on to where they were going. */
export function PublicOnly({ children }: { children: ReactNode }) {
  const status = useSession();
  const location = useLocation();
  if (status === 'unknown') return <Loading />;
  if (status === 'in') {
    const from = (location.state as { from?: { pathname: string; search: string } } | null)?.from;
    return <Navigate to={from ? `${from.pathname}${from.search}` : '/videos'} replace />;
  }
  return children;
}
