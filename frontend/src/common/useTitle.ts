import { useEffect } from 'react';

/** The document title for this page (screen readers announce it on navigation). */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Video AI`;
  }, [title]);
}
