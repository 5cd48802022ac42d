"""The browser tests run with `make test-browser` (`pytest tests/browser`), not with `make test`:
they need Chromium, which `make test-browser` installs. They are collected only when
tests/browser, or a file in it, is named on the command line, or when BROWSER=1 is set."""

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _requested(config: pytest.Config) -> bool:
    if os.environ.get("BROWSER") == "1":
        return True
    for arg in config.invocation_params.args:
        path = Path(config.invocation_params.dir, str(arg).split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name.startswith("test_") and not _requested(config):
        return True
    return None
