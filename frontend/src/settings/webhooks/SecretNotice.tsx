import { useState } from 'react';

import type { WebhookWithSecret } from '../../api';

/** The signing secret, shown this once (at creation and after a rotation). */
export function SecretNotice({ endpoint, onDone }: { endpoint: WebhookWithSecret; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(endpoint.secret);
      setCopied(true);
    } catch {
      // no clipboard (plain http): the text is selectable
    }
  };
  return (
    <div className="card notice" role="alert">
      <p>
        <strong>The signing secret of {endpoint.url}</strong>: copy it now, it is not shown again.
        Receivers check each delivery's <code>webhook-signature</code> with it (Standard Webhooks).
      </p>
      <label>
        Signing secret
        <input className="secret" readOnly value={endpoint.secret} onFocus={(event) => event.currentTarget.select()} />
      </label>
      <div className="buttons">
        <button type="button" onClick={() => void copy()}>
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={onDone}>
          I have saved it
        </button>
      </div>
    </div>
  );
}
