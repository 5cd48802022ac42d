"""Real servers for the tests, each on 127.0.0.1 on a free port, stopped by its process id:
moto's standalone S3 server (it speaks the S3 HTTP API: it stands in for S3 or MinIO) and
redis-server (the Debian package; `scripts/ensure-redis.sh` installs it when missing).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import boto3
import httpx

from tests.support.live import free_port

S3_CREDENTIALS = {"S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing"}


class Service:
    """A server process started by a test: its URL, and how to stop and start it again."""

    def __init__(self, command: list[str], url: str, port: int, log: Path | None) -> None:
        self.command = command
        self.url = url
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.log:
            output.close()  # the child has its own copy
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.command[0]} not ready within {timeout} s")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class S3Server(Service):
    def ready(self) -> bool:
        try:
            return httpx.get(self.url, timeout=1).status_code < 500
        except httpx.TransportError:
            return False

    def start(self) -> None:  # type: ignore[override]
        super().start(self.ready)

    def client(self):  # noqa: ANN201 - a boto3 S3 client
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def open_multipart_uploads(self, bucket: str) -> list[str]:
        answer = self.client().list_multipart_uploads(Bucket=bucket)
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    def settings(self, bucket: str) -> dict[str, str]:
        """Environment variables that point the app at this server and bucket."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.url,
            "S3_REGION": "us-east-1",
            **S3_CREDENTIALS,
        }


@contextmanager
def s3_server(log: Path | None = None) -> Iterator[S3Server]:
    """moto's S3 server (`python -m moto.server`), state in memory, gone when it stops."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = S3Server(command, f"http://127.0.0.1:{port}", port, log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RedisServer(Service):
    def ready(self) -> bool:
        return _port_open(self.port)

    def start(self) -> None:  # type: ignore[override]
        super().start(self.ready)

    def restart(self) -> None:
        """Stop and start again: with no persistence, every queued message is lost."""
        self.stop()
        self.start()


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


@contextmanager
def redis_server(directory: Path, log: Path | None = None) -> Iterator[RedisServer]:
    """redis-server on a free port, no persistence (a restart loses the queue: on purpose)."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server not found: run scripts/ensure-redis.sh")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]
    server = RedisServer(command, f"redis://127.0.0.1:{port}/0", port, log)
    server.start()
    try:
        yield server
    finally:
        server.stop()
