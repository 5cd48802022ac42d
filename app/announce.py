"""Job changes announced between processes: Redis pub/sub, the only module that does it.

A process that committed a change to a job (a standalone worker, the embedded one, an API's
cancel or delete, a reaper) calls `Announcer.announce("job:12")`; every API process subscribes
with one connection (not one per stream) and hands what it hears to its event-stream watcher
(app/events.py), which then reads the database at once. Only with Redis configured: the queue's
server (`QUEUE_URL=redis://...`), no new one. A speed-up, never needed for correctness: an
announcement lost (Redis away, a process that died between its commit and its publish) costs
at most one tick of the watcher's. Why pub/sub and not PostgreSQL's LISTEN/NOTIFY:
docs/phase-2-videos.md, "Following a job".

Keys name what changed: `job:<id>`, `video:<id>` (deleted, with its jobs), `user:<id>` (an
account deleted); `*` (heard, never sent) means "anything may have changed": the subscription
was lost for a while. One message carries the sender's origin and a batch of keys; a process
ignores its own messages (it told its watcher already). Neither announce() nor the listener
ever blocks its caller on Redis: a thread publishes, another listens.

May import third-party libraries only.
"""

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from urllib.parse import urlsplit

import redis

logger = logging.getLogger("app.announce")

ANYTHING = "*"
# Pub/sub channels are global to a Redis server (not per database number): the channel names
# the database, so deployments sharing a server on different numbers stay apart.
CHANNEL_PREFIX = "video-ai:job-changes:"
MAX_KEYS_PER_MESSAGE = 500
LISTEN_POLL_SECONDS = 0.5  # how soon the listener sees close()
RECONNECT_MAX_SECONDS = 5.0


def job_key(job_id: int) -> str:
    return f"job:{job_id}"


def video_key(video_id: int) -> str:
    return f"video:{video_id}"


def user_key(user_id: int) -> str:
    return f"user:{user_id}"


def redis_url(queue_url: str) -> str | None:
    """The Redis server to announce on: the queue's, when it is Redis; else None (one host:
    nothing to announce to that the embedded worker's callback does not reach)."""
    return queue_url if urlsplit(queue_url).scheme in ("redis", "rediss") else None


def channel(url: str) -> str:
    database = urlsplit(url).path.strip("/") or "0"
    return f"{CHANNEL_PREFIX}{database}"


class Announcer:
    """Publishes this process's keys; with `on_heard`, also hears the other processes' keys
    (called on the listening thread with a list of keys; must not block)."""

    def __init__(self, url: str, on_heard: Callable[[list[str]], None] | None = None) -> None:
        self.channel = channel(url)
        self.origin = uuid.uuid4().hex[:16]
        self.subscribed = threading.Event()  # the listener is subscribed (tests wait on it)
        self.published = 0  # messages sent (tests)
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
        )
        self._on_heard = on_heard
        self._outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pubsub: redis.client.PubSub | None = None

    def start(self) -> "Announcer":
        self._stopping.clear()
        targets = [("announce-publish", self._publish_forever)]
        if self._on_heard is not None:
            targets.append(("announce-listen", self._listen_forever))
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def announce(self, *keys: str) -> None:
        """From any thread; returns at once (the publishing thread sends it)."""
        if not self._stopping.is_set():
            for key in keys:
                self._outbox.put(key)

    def close(self, timeout: float = 3.0) -> None:
        """Sends what is waiting, stops listening, closes the connections."""
        self._stopping.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self.subscribed.clear()
        self._client.close()

    # ---- publishing ---------------------------------------------------------------------------

    def _publish_forever(self) -> None:
        failing = False
        done = False
        while not done:
            first = self._outbox.get()
            if first is None:
                break
            keys = {first}
            while len(keys) < MAX_KEYS_PER_MESSAGE:  # what came meanwhile goes in one message
                try:
                    key = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if key is None:
                    done = True
                    break
                keys.add(key)
            try:
                self._client.publish(self.channel, " ".join([self.origin, *sorted(keys)]))
                self.published += 1
                if failing:
                    logger.info("Announcing job changes through Redis works again")
                failing = False
            except (redis.RedisError, OSError):
                if not failing:  # once per outage; the watchers' ticks cover the gap
                    logger.warning("Could not announce job changes through Redis", exc_info=True)
                failing = True

    # ---- listening ----------------------------------------------------------------------------

    def _listen_forever(self) -> None:
        delay, lost = 0.1, False
        while not self._stopping.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            self._pubsub = pubsub
            try:
                pubsub.subscribe(self.channel)
                if lost:  # announcements made meanwhile were missed: read everything once
                    logger.info("Listening to job changes through Redis again")
                    self._deliver([ANYTHING])
                delay, lost = 0.1, False
                self.subscribed.set()
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=LISTEN_POLL_SECONDS)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
            except (redis.RedisError, OSError):
                self.subscribed.clear()
                if self._stopping.is_set():
                    break
                if not lost:
                    logger.warning("Lost the Redis subscription to job changes", exc_info=True)
                lost = True
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                with suppress(Exception):
                    pubsub.close()

    def _receive(self, data: bytes) -> None:
        origin, *keys = data.decode("utf-8", "replace").split()
        if origin != self.origin and keys:
            self._deliver(keys)

    def _deliver(self, keys: list[str]) -> None:
        try:
            self._on_heard(keys)  # type: ignore[misc]
        except Exception:  # a speed-up: never a reason to stop listening
            logger.warning("Handling announced job changes failed", exc_info=True)
