"""The job-kind registry (app/pipeline/kinds) and the docs agree: every kind has its module, a
description, a price setting or none, a test file, and its row in docs/phase-2-videos.md."""

import re
from pathlib import Path

import pytest

from app.config import Settings
from app.pipeline.kinds import KINDS, for_sale

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "phase-2-videos.md"


def doc_rows() -> dict[str, list[str]]:
    """The table of "Adding a job kind": kind -> its cells."""
    section = DOC.read_text().split("## Adding a job kind", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if match := re.fullmatch(r"`(\w+)`", cells[0]):
            rows[match.group(1)] = cells
    return rows


def test_the_docs_list_exactly_the_registered_kinds():
    assert set(doc_rows()) == set(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_has_its_module_description_price_and_tests(name):
    kind, (_, module, sale, tests) = KINDS[name], doc_rows()[name]
    assert kind.name == name and kind.description.strip()
    assert module == f"`app/pipeline/kinds/{name}.py`"
    assert kind.run.__module__ == f"app.pipeline.kinds.{name}"
    assert (ROOT / module.strip("`")).is_file()
    if kind.for_sale:
        assert kind.price_setting in Settings.model_fields
        assert sale == f"`{kind.price_setting.upper()}`"
        assert kind.price_per_minute(Settings(_env_file=None)) >= 0
        assert kind.result_type
    else:
        assert sale.startswith("no")
    for test_file in re.findall(r"`(tests/[\w/]+\.py)`", tests):
        assert name in (ROOT / test_file).read_text(), f"{test_file} does not run {name}"
    assert re.findall(r"`(tests/[\w/]+\.py)`", tests)


def test_only_priced_kinds_are_for_sale():
    assert set(for_sale()) == {name for name, kind in KINDS.items() if kind.price_setting}
    assert "ingest" not in for_sale()


def test_every_price_setting_belongs_to_a_kind():
    prices = {name for name in Settings.model_fields if re.fullmatch(r"price_\w+_per_minute", name)}
    assert prices == {kind.price_setting for kind in for_sale().values()}
