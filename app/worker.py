"""A standalone job worker process: `python -m app.worker` (`make worker`).

For deployments that run the API with EMBEDDED_WORKER=false: the same Worker
(app/pipeline/worker.py) the API embeds, on its own, stopped by SIGTERM or SIGINT.
"""

import logging

from app import db
from app.config import Settings
from app.pipeline.worker import Worker
from app.storage import make_storage

logger = logging.getLogger("app.worker")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    engine = db.make_engine(settings)
    if settings.migrate_on_startup:
        db.migrate(engine)
    worker = Worker(engine, settings, make_storage(settings))
    logger.info("Worker: %s threads on %s", settings.worker_concurrency, settings.queue_url)
    worker.run_forever()


if __name__ == "__main__":
    main()
