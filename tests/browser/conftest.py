"""The browser tests run with `make test-browser` (`pytest tests/browser`), not with `make test`:
they need Chromium, which `make test-browser` installs. They are collected only when
tests/browser, or a file in it, is named on the command line, or when BROWSER=1 is set."""

from pathlib import Path

from tests.support.opt_in import collected_only_when_requested

HERE = Path(__file__).resolve().parent


pytest_ignore_collect = collected_only_when_requested(HERE, "BROWSER")
