"""A standalone job worker process: `python -m app.worker` (`make worker`).

For deployments that run the API with EMBEDDED_WORKER=false: the same Worker
(app/pipeline/worker.py) the API embeds, on its own, stopped by SIGTERM or SIGINT.
"""

import logging

from app import announce, db
from app.config import Settings
from app.pipeline.worker import Worker
from app.storage import make_storage

logger = logging.getLogger("app.worker")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    settings.ensure_secret_key()  # webhook secrets are sealed with it
    engine = db.make_engine(settings)
    if settings.migrate_on_startup:
        db.migrate(engine)
    worker = Worker(engine, settings, make_storage(settings))
    # With Redis, every change this worker commits is announced to the API processes' event
    # streams (app/announce.py), which then need not wait for their watcher's tick.
    url = announce.redis_url(settings.queue_url)
    announcer = announce.Announcer(url).start() if url else None
    if announcer is not None:
        worker.on_change = lambda job_id: announcer.announce(announce.job_key(job_id))
    logger.info("Worker: %s threads on %s", settings.worker_concurrency, settings.queue_url)
    try:
        worker.run_forever()
    finally:
        if announcer is not None:
            announcer.close()  # what is still waiting goes out first


if __name__ == "__main__":
    main()
