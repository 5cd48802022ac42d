"""The fuzz tests run with `make fuzz` (`pytest tests/fuzz`), not with a plain `make test`.

They are collected only when tests/fuzz, or a file in it, is named on the command line, or
when FUZZ=1 is set; otherwise the whole suite would pay for a few thousand generated requests.
"""

import time
from pathlib import Path

from tests.support.opt_in import collected_only_when_requested

HERE = Path(__file__).resolve().parent


pytest_ignore_collect = collected_only_when_requested(HERE, "FUZZ")


class FuzzStats:
    """Counts the requests the fuzz tests send, per operation, for the run's summary."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.started = time.perf_counter()

    def count(self, label: str) -> None:
        self.requests[label] = self.requests.get(label, 0) + 1


STATS = FuzzStats()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not STATS.requests:
        return
    total = sum(STATS.requests.values())
    elapsed = time.perf_counter() - STATS.started
    terminalreporter.write_sep("-", f"fuzz: {total} requests in {elapsed:.1f} s")
    for label, count in sorted(STATS.requests.items()):
        terminalreporter.write_line(f"  {count:6d}  {label}")
