"""Test folders that run only when asked for (make fuzz, make test-browser), not in make test."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest


def collected_only_when_requested(
    folder: Path, variable: str
) -> Callable[[Path, pytest.Config], bool | None]:
    """A `pytest_ignore_collect` hook: the folder's test files are collected only when the
    folder, or a file in it, is named on the command line, or when `variable`=1 is set."""

    def requested(config: pytest.Config) -> bool:
        if os.environ.get(variable) == "1":
            return True
        for arg in config.invocation_params.args:
            path = Path(config.invocation_params.dir, str(arg).split("::")[0]).resolve()
            if path == folder or folder in path.parents:
                return True
        return False

    def ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
        if collection_path.name.startswith("test_") and not requested(config):
            return True
        return None

    return ignore_collect
