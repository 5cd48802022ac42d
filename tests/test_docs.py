"""The phase documents must describe every table and column the models declare."""

import re

from app.db import ROOT
from app.models import metadata

DOCS = sorted((ROOT / "docs").glob("phase-*.md"))
DOC = "docs/phase-*.md"


def documented_columns() -> dict[str, set[str]]:
    """`### \\`table\\`` headings, each with the backticked names in its table's first column."""
    tables: dict[str, set[str]] = {}
    current: set[str] | None = None
    lines = [line for doc in DOCS for line in [*doc.read_text().splitlines(), "#"]]
    for line in lines:
        if heading := re.fullmatch(r"###\s+`(\w+)`\s*", line):
            current = tables.setdefault(heading.group(1), set())
        elif line.startswith("#"):
            current = None
        elif current is not None and (row := re.match(r"\|\s*`(\w+)`\s*\|", line)):
            current.add(row.group(1))
    return tables


def test_there_is_a_document_per_phase():
    assert [doc.name for doc in DOCS] == [
        "phase-1-backend.md",
        "phase-2-videos.md",
        "phase-3-ai.md",
    ]


def test_every_table_and_column_is_documented():
    documented = documented_columns()
    for table in metadata.sorted_tables:
        assert table.name in documented, f"table {table.name} missing from {DOC}"
        missing = {column.name for column in table.columns} - documented[table.name]
        assert not missing, f"columns of {table.name} missing from {DOC}: {sorted(missing)}"


def test_the_document_names_no_column_that_does_not_exist():
    for table, columns in documented_columns().items():
        assert table in metadata.tables, f"{DOC} documents a table that no model declares: {table}"
        assert columns <= set(metadata.tables[table].columns.keys())
