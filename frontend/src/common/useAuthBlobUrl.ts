import { useEffect, useState } from 'react';

import { authFetch } from '../api';

/**
 * A `blob:` URL of what `url` answers to the logged-in user (an <img> or <track> cannot send the
 * bearer token itself); revoked when the component goes or the URL changes. Null until loaded,
 * and when there is nothing (404). A new `version` fetches the same URL again.
 */
export function useAuthBlobUrl(url: string | null | undefined, version: unknown = null): string | null {
  const [loaded, setLoaded] = useState<{ key: string; blobUrl: string } | null>(null);
  const key = `${url}#${String(version)}`;

  useEffect(() => {
    if (!url) return undefined;
    let live = true;
    let blobUrl: string | null = null;
    authFetch(url)
      .then((response) => (response.ok ? response.blob() : null))
      .then((blob) => {
        if (!blob || !live) return;
        blobUrl = URL.createObjectURL(blob);
        setLoaded({ key, blobUrl });
      })
      .catch(() => {
        // no picture or captions: the page shows without them
      });
    return () => {
      live = false;
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    };
  }, [url, key]);

  return url && loaded && loaded.key === key ? loaded.blobUrl : null;
}
