"""The README, followed literally on a fresh clone (issue 25): what its walkthrough writes stays out
of git, the paid job's id comes from its answer and its download fails visibly, a second
`make run` is not started on the first one's port, and a password change says that the caller
refreshes."""

import re
import shutil
import subprocess

import pytest

from app.db import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)


def commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def written_files() -> set[str]:
    """The files the walkthrough's commands write in the current directory (the repository)."""
    names: set[str] = set()
    for block in SHELL:
        for line in commands(block):
            names |= set(re.findall(r"(?:-o|>)\s*([\w.-]+)", line))  # curl -o X, echo ... > X
        names |= set(re.findall(r"^# writes ([\w.-]+)", block, flags=re.MULTILINE))  # curl -OJ
    names |= set(re.findall(r'Path\("([\w.-]+)"\)', README))  # the test clips' one-liners
    return names - {"dev"}  # /dev/null


def test_the_walkthrough_writes_these_files():
    """So that the next test checks something: the names the parser finds."""
    assert written_files() >= {"clip.mp4", "notes.mp4", "thumbnail.jpg", "speech.mp4"}
    assert any(re.fullmatch(r"job-\d+-audio\.flac", name) for name in written_files())


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
def test_every_file_the_walkthrough_writes_in_the_repository_is_git_ignored():
    for name in sorted(written_files()):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT)
        assert ignored.returncode == 0, f"{name}: the README writes it, git would commit it"


def test_the_paid_job_takes_its_id_from_the_202_and_its_download_fails_visibly():
    [block] = [block for block in SHELL if "/result" in block]
    lines = commands(block)
    assert any(re.match(r"JOB=\$\(.*\[\"id\"\]", line) for line in lines)
    downloads = [line for line in lines if "/result" in line]
    assert downloads and all("/jobs/$JOB/result" in line for line in downloads)
    assert all(re.search(r"curl -\w*f", line) for line in downloads)  # a 404 is an error
    # No command names a job by a number the reader's database may give to another.
    assert not [line for line in lines if re.search(r"/jobs/\d+", line)]


def test_a_second_make_run_says_to_stop_the_first_or_to_use_another_port():
    second = [
        line for block in SHELL for line in commands(block) if re.match(r"\w+=\S+ make run", line)
    ]
    assert second
    for line in second:
        assert "stop the first make run" in line and "PORT=" in line, line
    assert "make run HOST=0.0.0.0 PORT=8001" in README
    makefile = (ROOT / "Makefile").read_text()
    assert "HOST ?= 127.0.0.1" in makefile and "PORT ?= 8000" in makefile
    assert "--host $(HOST) --port $(PORT)" in makefile


def test_a_password_change_says_the_caller_refreshes(client):
    """The caller's own access token ends too (tests/test_passwords.py proves it)."""
    operation = client.app.openapi()["paths"]["/auth/password"]["post"]
    assert "this one refreshes" in operation["summary"]
    assert "POST /auth/refresh" in operation["description"]
    paragraph = README[README.index("`POST /auth/password` (bearer") :][:400]
    assert "access token of the request ends too" in paragraph
    assert "`POST /auth/refresh`" in paragraph
