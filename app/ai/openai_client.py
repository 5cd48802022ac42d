"""The one module that knows the `openai` package: a client for any OpenAI-compatible server
(OpenAI, Groq, speaches, vLLM, LocalAI, a LiteLLM proxy) and its errors as `ProviderError`s.

Retries are the package's own: `max_retries` more attempts after a timeout, a connection error,
408, 409, 429 or 5xx, waiting 0.5 s, 1 s, 2 s ... (at most 8 s, minus up to 25 % jitter), or
what `Retry-After`/`retry-after-ms` asks when it is within 2 minutes. An upload given as an open
file is rewound for each attempt.

Error messages are written here, from the status code alone: never the package's message (it
holds the provider's body, which an echoing server fills with our Authorization header), the
key, the request's headers or the provider's raw body.
"""

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import openai

from app.ai.types import ProviderError
from app.config import Settings

# Self-hosted servers often need no key; the package refuses an empty one.
PLACEHOLDER_API_KEY = "not-set"

Client = openai.OpenAI
T = TypeVar("T")

_REASONS = {
    400: "bad request",
    401: "authentication failed: check OPENAI_API_KEY",
    403: "permission denied",
    404: "not found: check the model name and OPENAI_BASE_URL",
    408: "request timeout",
    409: "conflict",
    413: "upload too large: lower OPENAI_MAX_UPLOAD_BYTES",
    415: "unsupported media type",
    422: "request not processable",
    429: "rate limited",
}


class MalformedResponse(Exception):
    """A 2xx answer whose body is not what the API promises (not JSON, fields missing)."""


def make_client(settings: Settings, timeout: float | None = None) -> openai.OpenAI:
    """A client for `settings.openai_base_url`; close it (or use it in `with`) when done.

    `timeout` (seconds, for each of connect, write, read and pool) defaults to
    OPENAI_TIMEOUT_SECONDS; a call may pass its own `timeout=`."""
    key = settings.openai_api_key
    return openai.OpenAI(
        api_key=key.get_secret_value() if key is not None else PLACEHOLDER_API_KEY,
        base_url=settings.openai_base_url,
        timeout=timeout if timeout is not None else settings.openai_timeout_seconds,
        max_retries=settings.openai_max_retries,
    )


def provider_error(exc: BaseException, service: str = "AI") -> ProviderError:
    """The contract's error for a failed call; `service` names the provider in the message
    ("transcription" -> "The transcription provider answered 401 (...)")."""
    who = f"The {service} provider"
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("provider_timeout", f"{who} did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("provider_unavailable", f"{who} could not be reached")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        answered = f"{who} answered {status} ({_reason(status)})"
        if status == 408:
            return ProviderError("provider_timeout", answered)
        if status in (409, 429) or status >= 500:
            return ProviderError("provider_unavailable", answered)
        return ProviderError("provider_rejected", answered)
    if isinstance(exc, (MalformedResponse, openai.APIResponseValidationError, ValueError)):
        return ProviderError("provider_unavailable", f"{who} sent an answer that is not valid")
    return ProviderError("provider_unavailable", f"{who} failed ({type(exc).__name__})")


def _reason(status: int) -> str:
    if status in _REASONS:
        return _REASONS[status]
    if status >= 500:
        return "server error"
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "refused"


def guarded(call: Callable[[], T], service: str = "AI") -> T:
    """`call()`, with the package's errors (and `MalformedResponse`) raised as `ProviderError`.

    The original is not chained, not even as `__context__`: its text may hold the provider's
    body, and its request the Authorization header."""
    try:
        return call()
    except (openai.OpenAIError, MalformedResponse) as exc:
        error = provider_error(exc, service)
    raise error


def json_object(content: bytes) -> dict[str, Any]:
    """The JSON object of a response body, or `MalformedResponse`."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise MalformedResponse("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedResponse("not a JSON object")
    return data
