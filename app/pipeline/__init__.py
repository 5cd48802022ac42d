"""The job pipeline: how work on a video gets done, whichever process does it.

Holds `jobs` (the `processing_jobs` state machine: the truth about every job), `queue` (huey:
the transport that carries job ids), `context` (`JobContext`: what a kind's function gets),
`media` (FFmpeg through PyAV in a sandboxed child: sniff, probe, thumbnail, audio), `kinds`
(the job-kind registry and one module per kind) and `worker` (`Worker`: claims jobs,
heartbeats, records how they ended, the reaper, and runs the webhook deliverer).

May import: `app.config`, `app.models`, `app.db`, `app.credits`, `app.idempotency`,
`app.fetch` (outbound downloads checked against SSRF), `app.webhooks` (state changes put their
events in its outbox), `app.storage`, `app.ai`, `app.scratch` (the worker's scratch folder),
`app.retention` (the reaper's token purge) and third-party libraries. Never `app.crud`,
`app.deps`, `app.api` or `app.main`, which sit above it. Inside: `jobs`, `queue` and `media`
import no other module of the package; `context` imports `jobs`; a kind imports `context` and
`media`; `kinds` (the registry) imports the kinds; `worker` sits on top.
"""
