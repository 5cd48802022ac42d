"""Settings and the signing key: production needs a strong key, the development key file is
private and survives restarts, and values out of range are refused at start."""

import logging
import stat
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.config import MIN_PRODUCTION_KEY_BYTES, Settings
from app.db import ROOT
from tests.support.utils import bearer, login, register

STRONG_KEY = "k" * MIN_PRODUCTION_KEY_BYTES


# --- Production refuses to start without a strong key ---


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "short", "k" * (MIN_PRODUCTION_KEY_BYTES - 1), "é" * 15 + "k"],  # last: 31 bytes
    ids=["unset", "empty", "short", "31-ascii-bytes", "31-utf8-bytes"],
)
def test_production_settings_refuse_a_missing_or_short_secret_key(tmp_path, secret_key):
    with pytest.raises(ValidationError, match="SECRET_KEY of at least 32 bytes"):
        Settings(
            environment="production",
            secret_key=secret_key,
            secret_key_file=tmp_path / ".secret_key",
        )
    assert not (tmp_path / ".secret_key").exists()  # and never falls back to a generated key


@pytest.mark.parametrize(
    "secret_key", [STRONG_KEY, "é" * 16], ids=["32-ascii", "16-e-acute-32-bytes"]
)
def test_production_settings_accept_a_key_of_32_bytes(secret_key):
    settings = Settings(environment="production", secret_key=secret_key)
    assert settings.jwt_key == secret_key


def test_production_settings_read_from_the_environment_refuse_a_short_key(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "too-short")
    with pytest.raises(ValidationError):
        Settings()


def _start_app_process(tmp_path, **env):
    script = "import app.main"
    full_env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": "sqlite://",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_app_does_not_start_in_production_with_a_weak_key_and_does_not_print_it(tmp_path):
    weak = "my-weak-but-secret-key"
    result = _start_app_process(tmp_path, ENVIRONMENT="production", SECRET_KEY=weak)

    assert result.returncode != 0
    assert "SECRET_KEY of at least 32 bytes" in result.stderr
    assert weak not in result.stderr + result.stdout
    assert "weak-but" not in result.stderr + result.stdout


def test_the_app_does_not_start_in_production_without_a_key_nor_writes_one(tmp_path):
    result = _start_app_process(tmp_path, ENVIRONMENT="production")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / ".secret_key").exists()


# --- The development key file ---


@pytest.fixture
def dev_settings(tmp_path):
    def make():
        settings = Settings(
            environment="development", secret_key=None, secret_key_file=tmp_path / ".secret_key"
        )
        settings.ensure_secret_key()
        return settings

    return make


def test_without_a_key_development_generates_one_into_an_owner_only_file(tmp_path, dev_settings):
    key = dev_settings().jwt_key

    path = tmp_path / ".secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(key.encode()) >= MIN_PRODUCTION_KEY_BYTES
    assert [p.name for p in tmp_path.iterdir()] == [".secret_key"]  # no temp file left behind


def test_the_generated_key_is_announced_in_the_log_but_never_logged(dev_settings, caplog):
    with caplog.at_level(logging.DEBUG):
        key = dev_settings().jwt_key

    assert "generated a development key" in caplog.text
    assert ".secret_key" in caplog.text
    assert key not in caplog.text
    assert key[:12] not in caplog.text


def test_the_generated_key_survives_a_restart_and_so_do_tokens(tmp_path, make_client):
    same_place = {
        "secret_key": None,
        "secret_key_file": tmp_path / ".secret_key",
        "database_url": f"sqlite:///{tmp_path / 'app.db'}",
    }
    first = make_client(**same_place)
    register(first)
    token = login(first).json()["access_token"]

    restarted = make_client(**same_place)

    assert restarted.get("/me", headers=bearer(token)).status_code == 200


def test_two_development_keys_generated_in_different_places_differ(tmp_path):
    keys = set()
    for name in "ab":
        settings = Settings(secret_key=None, secret_key_file=tmp_path / name)
        settings.ensure_secret_key()
        keys.add(settings.jwt_key)
    assert len(keys) == 2


def test_an_empty_secret_key_counts_as_unset_and_a_key_is_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "")
    settings = Settings(secret_key_file=tmp_path / ".secret_key")
    settings.ensure_secret_key()
    assert len(settings.jwt_key.encode()) >= MIN_PRODUCTION_KEY_BYTES


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "32"),
        ("DEFAULT_CREDITS", "-1"),
        ("DB_POOL_SIZE", "0"),
    ],
)
def test_settings_out_of_range_are_refused_at_start(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.lower()):
        Settings()


def test_the_settings_repr_does_not_show_the_secret_key():
    settings = Settings(secret_key="super-secret-value-" + "x" * 20)
    assert "super-secret-value" not in repr(settings)
    assert "super-secret-value" not in str(settings.model_dump())
