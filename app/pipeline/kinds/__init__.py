"""The job-kind registry: every kind of job, in one table.

A row names the kind, the function that does the work, what it is (for the OpenAPI document
and GET /job-kinds), the media type of the file it produces, and the setting that prices it
(credits per started minute of video). A kind with no price setting is not for sale: only the
system starts it (`ingest`). Adding a kind is: one module here with its function, one row
below, one `PRICE_<KIND>_PER_MINUTE` setting in app/config.py, its tests, and its paragraph in
the phase document (docs/phase-2-videos.md#adding-a-job-kind; tests/test_job_kinds.py checks
that the registry, the settings, the tests and the docs agree).

A kind's function takes a JobContext and returns the video's new fields ({} for kinds that
leave the video as it is). It may import `app.pipeline.context`, `media`, `fetch`,
`app.storage`, `app.models` and `app.ai`; never this registry or the worker.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.pipeline.context import JobContext
from app.pipeline.kinds.extract_audio import extract_audio
from app.pipeline.kinds.ingest import ingest

JobFunction = Callable[[JobContext], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    description: str
    result_type: str | None = None  # the media type of GET /jobs/{id}/result
    price_setting: str | None = None  # the Settings field: credits per started minute

    @property
    def for_sale(self) -> bool:
        return self.price_setting is not None

    def price_per_minute(self, settings: Settings) -> int:
        assert self.price_setting is not None, f"{self.name} is not for sale"
        return getattr(settings, self.price_setting)


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind(
            name="ingest",
            run=ingest,
            description="Make a new video usable: download a link, probe it, make a thumbnail",
        ),
        JobKind(
            name="extract_audio",
            run=extract_audio,
            description="The audio as 16 kHz mono FLAC",
            result_type="audio/flac",
            price_setting="price_extract_audio_per_minute",
        ),
    )
}


def for_sale() -> dict[str, JobKind]:
    """The kinds a user may buy with POST /videos/{id}/jobs."""
    return {name: kind for name, kind in KINDS.items() if kind.for_sale}
