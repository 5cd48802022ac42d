"""Webhooks: telling a user's own server that a video is ready or a job ended.

Holds `signing` (the secrets: made, sealed at rest, and the Standard Webhooks signature; the
only module that knows `standardwebhooks` and `cryptography`), `outbox` (`emit`: one
`webhook_deliveries` row per subscribed endpoint, written in the transaction of the change it
tells, so a rolled-back change sends nothing and a crash loses nothing) and `delivery`
(`Deliverer`: run by every worker, it sends due deliveries through `app.fetch`'s SSRF-checked
client, signs them, retries them on WEBHOOK_RETRY_SCHEDULE and disables endpoints that are gone).

May import: `app.config`, `app.models`, `app.db`, `app.fetch`, `app.mail` and third-party
libraries. Never `app.pipeline` (whose state changes call `outbox.emit`), `app.crud` or above.
Inside: `signing` imports nothing of the package, `outbox` imports `signing`, `delivery` sits on
top.
"""
