"""The job pipeline: how work on a video gets done, whichever process does it.

Holds `jobs` (the `processing_jobs` state machine: the truth about every job), `queue` (huey:
the transport that carries job ids), `context` (`JobContext`: what a kind's function gets),
`media` (FFmpeg through PyAV in a sandboxed child: sniff, probe, thumbnail, audio), `fetch`
(outbound downloads checked against SSRF), `kinds` (the job-kind registry and one module per
kind) and `worker` (`Worker`: claims jobs, heartbeats, records how they ended, the reaper).

May import: `app.config`, `app.models`, `app.db`, `app.credits`, `app.idempotency`,
`app.storage`, `app.ai` and third-party libraries. Never `app.crud`, `app.deps`, `app.api` or
`app.main`, which sit above it. Inside: `jobs`, `queue`, `media` and `fetch` import no other
module of the package; `context` imports `jobs`; a kind imports `context`, `media`, `fetch`;
`kinds` (the registry) imports the kinds; `worker` sits on top.
"""
