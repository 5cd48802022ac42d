"""AI providers: speech to text on this machine (Whisper through faster-whisper, in a child
process) or through any OpenAI-compatible server, and the captions cut from a transcript.

Holds: `types` (what every provider returns and raises), `local_whisper` (+ its child process
`whisper_child`), `openai_client` (the only module that knows the `openai` package),
`openai_transcribe` (+ `chunking`: audio split at silences under an upload cap),
`openai_summarize` (summaries, chapters and keywords by a chat model, structured output),
`factory` (the providers the settings name, made once per worker).

May import: `app.config` and third-party libraries, nothing else of `app`: the job pipeline
(`app.pipeline`) calls these providers, never the other way round, and no provider knows the
database, the HTTP routes or the storage.
"""
