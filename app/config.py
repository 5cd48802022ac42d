"""Settings, read once from environment variables or `.env`."""

import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger("app")

MIN_PRODUCTION_KEY_BYTES = 32


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print SECRET_KEY (or a DATABASE_URL
    # password) into the start-up error.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", hide_input_in_errors=True, env_ignore_empty=True
    )

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./app.db"
    # Apply Alembic migrations when the app starts; turn off where a release step migrates.
    migrate_on_startup: bool = True
    # Connections kept per process. 40 matches the threadpool that runs sync dependencies,
    # so a request that holds a thread never waits for a connection held by a queued one.
    db_pool_size: int = Field(default=40, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # PostgreSQL only: the async connections of the search routes (app/reads.py), per process,
    # beside the pool above.
    db_read_pool_size: int = Field(default=5, ge=1)

    secret_key: SecretStr | None = None
    # Where a development key is kept when SECRET_KEY is unset (git-ignored).
    secret_key_file: Path = Path(".secret_key")
    access_token_expire_minutes: int = Field(default=30, gt=0)
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)  # bcrypt's own bounds
    default_credits: int = Field(default=0, ge=0)
    cors_origins: Annotated[list[str], NoDecode] = []

    # Phase 2: videos and processing jobs (docs/phase-2-videos.md).
    media_root: Path = Path("media")
    max_upload_bytes: int = Field(default=2 * 1024**3, gt=0)
    max_video_seconds: float = Field(default=14400, gt=0)
    max_video_side: int = Field(default=8192, gt=0)
    max_active_ingests: int = Field(default=5, ge=1)
    job_max_attempts: int = Field(default=3, ge=1)
    job_lease_seconds: float = Field(default=60, gt=0)
    # How often a worker looks for expired leases and lost queue messages.
    job_reap_interval_seconds: float = Field(default=5, gt=0)
    # DANGEROUS: lets links reach loopback and private addresses (tests, or a deliberate
    # internal media host). The cloud metadata addresses stay refused.
    link_allow_private: bool = False
    link_connect_timeout_seconds: float = Field(default=10, gt=0)
    link_read_timeout_seconds: float = Field(default=30, gt=0)
    link_download_timeout_seconds: float = Field(default=3600, gt=0)  # the whole download
    # Where video files live: `local` (files under media_root, one machine) or `s3` (an
    # S3-compatible bucket shared by API and worker processes on any machine).
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    # None: AWS itself; http://minio:9000 (or any S3-compatible server) otherwise.
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # None: boto3's usual credential chain (AWS_* variables, a profile, an instance role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    # Connect and read timeout of one S3 request: a store that is down answers 503 soon.
    s3_timeout_seconds: float = Field(default=10, gt=0)
    # The queue that carries job ids to workers: sqlite:///<file> (embedded, no server),
    # memory:// (one process only) or redis://host:port/db.
    queue_url: str = "sqlite:///./queue.db"
    # Run a worker inside each API process (make run); off where separate workers run.
    embedded_worker: bool = True
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    # Where workers keep their temporary files, each process in a folder of its own; a
    # starting worker removes the folders of processes that are gone (app/scratch.py).
    scratch_dir: Path = Path(tempfile.gettempdir()) / "video-ai-scratch"
    # Used and expired refresh and emailed tokens are deleted this long after they were used,
    # revoked or expired (a used refresh token is still recognised as reused until then).
    token_retention_days: int = Field(default=30, ge=1)
    # The sandbox of the child process that opens media with FFmpeg.
    media_memory_limit_mb: int = Field(default=1024, ge=64)
    media_cpu_seconds: int = Field(default=60, ge=1)
    media_timeout_seconds: float = Field(default=120, gt=0)

    # Credits (docs/phase-2-videos.md#credits). A paid job kind K costs
    # ceil(duration in minutes) x PRICE_K_PER_MINUTE; its row in app/pipeline/kinds names it.
    price_extract_audio_per_minute: int = Field(default=1, ge=0, le=1_000_000)
    price_transcribe_per_minute: int = Field(default=2, ge=0, le=1_000_000)
    price_summarize_per_minute: int = Field(default=1, ge=0, le=1_000_000)
    # How long an Idempotency-Key's first answer is kept for replay.
    idempotency_key_hours: float = Field(default=24, gt=0)

    # Phase 3: AI providers (docs/phase-3-ai.md, ../shared/contract-ai.md).
    # `local`: Whisper on this machine (faster-whisper), no network; `openai`: any server
    # speaking OpenAI's HTTP API (OPENAI_BASE_URL).
    transcribe_provider: Literal["local", "openai"] = "local"
    # None: the model packaged in a pinned Python package (works offline). Otherwise a
    # directory holding a CTranslate2 Whisper model, or a name faster-whisper may download.
    local_whisper_model: str | None = None
    # CPU threads of the local model; the API keeps the other core(s).
    local_whisper_threads: int = Field(default=1, ge=1, le=64)
    # The model's child process runs at this niceness, so the API it shares a host with wins.
    local_whisper_nice: int = Field(default=10, ge=0, le=19)
    local_whisper_beam_size: int = Field(default=1, ge=1, le=10)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr | None = None
    openai_transcribe_model: str = "whisper-1"
    openai_summary_model: str = "gpt-4o-mini"
    # The timeout of one call; a transcription's grows with its audio (docs/phase-3-ai.md).
    openai_timeout_seconds: float = Field(default=60, gt=0)
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    # Audio above this is sent in pieces cut at silences, each under it (OpenAI: 25 MiB).
    openai_max_upload_bytes: int = Field(default=26214400, ge=64 * 1024)
    summary_provider: Literal["openai", "none"] = "none"
    # The input of one summary call, in estimated tokens (app/ai/openai_summarize.py): a longer
    # transcript is summarized in parts, then the parts' summaries together.
    summary_max_input_tokens: int = Field(default=12000, ge=500)

    # Webhooks (app/webhooks/, ../shared/contract-ai.md#webhooks). DANGEROUS, like
    # LINK_ALLOW_PRIVATE: lets endpoints be loopback or private addresses (tests, an internal
    # receiver). The cloud metadata addresses stay refused.
    webhook_allow_private: bool = False
    # A delivery succeeds with a 2xx answer within this many seconds (connect included).
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # The delay in seconds before each attempt, counted from the previous failure; the first
    # attempt is the first entry (0: at once). After the last, the delivery is `failed`.
    webhook_retry_schedule: Annotated[list[float], NoDecode] = [
        0, 5, 300, 1800, 7200, 18000, 36000, 36000
    ]  # fmt: skip
    # After a rotation the old secret signs too, for this long (receivers switch over).
    webhook_secret_grace_hours: float = Field(default=24, ge=0)
    # An endpoint with no success for this long while its deliveries fail is disabled, and its
    # owner told by email.
    webhook_disable_after_hours: float = Field(default=5 * 24, gt=0)
    # Deliveries in flight at once per worker process (one per endpoint), and how often a
    # worker looks for due deliveries (a change made by its own jobs is sent at once).
    webhook_concurrency: int = Field(default=8, ge=1, le=256)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # Finished deliveries are kept this long (GET /webhooks/{id}/deliveries, redeliver).
    webhook_delivery_retention_days: float = Field(default=30, gt=0)

    # Sessions and emailed links (app/crud.py, app/account_emails.py).
    refresh_token_expire_days: int = Field(default=30, gt=0)
    # Cookie mode only: a refresh token used this recently, whose successor was never used, is
    # the browser again after a reload cut off the answer with the new cookie (not a reuse).
    refresh_cookie_lost_answer_seconds: float = Field(default=20, ge=0, le=300)
    password_reset_expire_minutes: int = Field(default=30, gt=0)
    email_verification_expire_hours: int = Field(default=48, gt=0)
    # Video and job routes refuse users whose address is not verified (app.deps.VerifiedUser).
    require_verified_email: bool = False

    # Email (app/mail.py). Without SMTP_HOST, development writes each email to the log.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Video AI <no-reply@example.com>"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # The web app whose /reset-password and /verify-email pages the emailed links open: by
    # default the one this server serves under /app/ (make run).
    frontend_url: str = "http://127.0.0.1:8000/app"

    # The web app (docs/web-app.md): the built frontend/ served under /app/, and the signed
    # URLs its player plays (POST /videos/{id}/playback; S3 presigns at most 7 days).
    webapp_dir: Path = Path("frontend/dist")
    playback_url_ttl_seconds: int = Field(default=3600, ge=1, le=7 * 86400)

    # Throttling (app/throttle.py): "memory://" counts per process; "redis://host:port/0" lets
    # every worker and every instance share the counts.
    rate_limit_storage_uri: str = "memory://"
    # Failed password checks in LOGIN_WINDOW_SECONDS per (account, client address), and per
    # client address across accounts; per account from everywhere, a far higher ceiling over
    # LOGIN_ACCOUNT_WINDOW_SECONDS (its owner gets an email when it is reached).
    login_max_failures: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=100, gt=0)
    login_max_failures_per_account: int = Field(default=100, gt=0)
    login_account_window_seconds: int = Field(default=24 * 60 * 60, gt=0)
    # Registration attempts per client address.
    register_max_per_address: int = Field(default=20, gt=0)
    register_window_seconds: int = Field(default=60 * 60, gt=0)
    login_window_seconds: int = Field(default=15 * 60, gt=0)
    email_requests_max: int = Field(default=5, gt=0)  # reset/verify emails per account
    email_requests_max_per_address: int = Field(default=20, gt=0)
    email_requests_window_seconds: int = Field(default=60 * 60, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: list[float]) -> list[float]:
        if not value or len(value) > 50 or any(delay < 0 for delay in value):
            raise ValueError("WEBHOOK_RETRY_SCHEDULE: 1 to 50 delays in seconds, none negative")
        return value

    @model_validator(mode="after")
    def _require_bucket_for_s3(self) -> "Settings":
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET is required when STORAGE_BACKEND=s3")
        return self

    @model_validator(mode="after")
    def _require_strong_key_in_production(self) -> "Settings":
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key.encode()) < MIN_PRODUCTION_KEY_BYTES:
                raise ValueError(
                    f"SECRET_KEY of at least {MIN_PRODUCTION_KEY_BYTES} bytes is required "
                    "when ENVIRONMENT=production"
                )
        return self

    @property
    def jwt_key(self) -> str:
        if self.secret_key is None:
            raise RuntimeError("no SECRET_KEY: call ensure_secret_key() first")
        return self.secret_key.get_secret_value()

    def ensure_secret_key(self) -> None:
        """Without SECRET_KEY (development only), use the key file, creating it if need be."""
        if self.secret_key is None:
            self.secret_key = SecretStr(_load_or_create_key_file(self.secret_key_file))


def _load_or_create_key_file(path: Path) -> str:
    """A development key that survives restarts, so issued tokens stay valid."""
    if not path.exists():
        # Written whole to a private temp file, then linked into place: workers starting
        # together never read a half-written key, and only one key wins.
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")
        try:
            with os.fdopen(fd, "w") as file:  # mkstemp creates it 0600
                file.write(secrets.token_urlsafe(48))
            os.link(temp_name, path)
            logger.warning(
                "SECRET_KEY is not set: generated a development key in %s", path.resolve()
            )
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            os.unlink(temp_name)
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{path} is empty: delete it or set SECRET_KEY")
    return key


def readable_size(size: int) -> str:
    """A size for messages, in binary units and exactly: `2 GiB (2147483648 bytes)`,
    `9.8 KiB (10000 bytes)`, `500 bytes`."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = f"{size / factor:.1f}".removesuffix(".0")
            return f"{value} {unit} ({size} bytes)"
    return f"{size} bytes"
