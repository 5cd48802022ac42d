import { useSyncExternalStore } from 'react';

import { type SessionStatus, sessionStatus, subscribe } from '../api';

/** 'unknown' while the app asks the cookie for a session, then 'in' or 'out'. */
export function useSession(): SessionStatus {
  return useSyncExternalStore(subscribe, sessionStatus);
}
