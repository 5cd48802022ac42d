"""The queue transport (app/pipeline/queue.py): what one process sends, another understands."""

from app.pipeline.queue import JobQueue


def test_a_message_the_api_sends_runs_in_a_standalone_worker(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    api = JobQueue(url, lambda job_id: None)
    assert api.enqueue(7) is True
    seen = []

    def run_job(job_id: int) -> None:
        seen.append(job_id)

    run_job.__module__ = "__main__"  # as in `python -m app.worker`
    worker = JobQueue(url, run_job)

    worker.huey.execute(worker.huey.dequeue())  # raised "not found in TaskRegistry" before

    assert seen == [7]


def test_enqueue_answers_false_when_the_queue_server_is_down():
    queue = JobQueue("redis://127.0.0.1:9/0", lambda job_id: None)  # nobody listens on 9
    assert queue.enqueue(7) is False


def test_the_task_name_is_the_one_earlier_releases_queued(tmp_path):
    """Messages queued before the pipeline package existed name app.queue.run_job."""
    queue = JobQueue(f"sqlite:///{tmp_path / 'queue.db'}", lambda job_id: None)
    queue.enqueue(3)
    task = queue.huey.dequeue()
    assert queue.huey._registry.task_to_string(type(task)) == "app.queue.run_job"
