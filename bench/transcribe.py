"""Phase 3 figures, run by bench/run.sh after bench/videos.py (or alone: bench/transcribe.py).

One speech clip (espeak-ng, about 100 s, in an MP4 like any upload) is uploaded to the project,
with the project's default AI settings (the packaged tiny.en, LOCAL_WHISPER_THREADS=1,
LOCAL_WHISPER_NICE=10, beam 1, the embedded worker); the server is pinned as servers.py pins it,
and so is its model child, which inherits the server's CPU.

(h) speed: audio seconds per wall second of a `transcribe` job, from its `started_at` to its
    `finished_at` (the server's timestamps: audio extraction in the sandboxed child, the model,
    storing), against faster-whisper called directly on the same audio (the clip's 16 kHz mono
    FLAC made with tests/support/speech.py) in a process of its own on the same CPU, with the
    product's options (app/ai/whisper_child.py). The first job starts the model's child and
    loads the model ("cold"); then 3 alternating rounds (direct, job): medians ("warm").
    Target: warm job / direct >= 0.8; and the second job no slower (warm <= cold). Beside it,
    the CPU seconds the model's process used and the seconds it was runnable but waited for a
    CPU (/proc/<pid>/task/*/schedstat): the job's model runs at nice 10, so other work on the
    machine slows it far more than the direct call (nice 0); the wait shows when that happened.
(i) quality: the word error rate of each job's transcript and of each direct call's text against
    the spoken text (tests/support/speech.py word_error_rate), medians. Target: within 0.02.
(j) memory: peak RSS of the model's child (`python -m app.ai.whisper_child`, a child of the
    server) and of the server, sampled every 20 ms while the jobs run; the direct process's peak
    (VmHWM) beside them.
(k) the API while it works: GET /me p99 latency (wrk, 4 connections, 10 s, on the other CPU)
    idle, and while a transcription runs in the embedded worker (the job `running`, stage
    `transcribing`, from before the load starts to after it ends); 3 alternating rounds, medians.
    Target: during <= 3x idle.

Prints a table and writes bench/results/transcribe.json. About 2.5 minutes.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from load import cpu_seconds, wait_until_idle, wrk
from report import machine
from servers import (
    RESULTS,
    ROOT,
    SERVER_PIN,
    http,
    log,
    register_and_login,
    server,
    server_env,
    server_pid,
    stop_all,
)
from videos import parse_time, upload_file, wait_job

sys.path.insert(0, str(ROOT))
from app.ai.local_whisper import packaged_model_dir  # noqa: E402
from app.ai.whisper_child import COMPUTE_TYPE, DECODE_OPTIONS  # noqa: E402
from app.config import Settings  # noqa: E402
from tests.support.speech import (  # noqa: E402 - the tests' speech generator
    audio_seconds,
    flac16k,
    have_espeak,
    speech_video,
    word_error_rate,
)

ROUNDS = 3
LOAD_SECONDS = 10
LOAD_CONNECTIONS = 4
SAMPLE_SECONDS = 0.02
POLL_SECONDS = 0.25  # the speed rounds' job polling: rare, so it costs the server little
CHILD_MODULE = b"app.ai.whisper_child"
TARGETS = {"speed_ratio": 0.8, "wer_difference": 0.02, "p99_ratio": 3.0}

# About 300 words: espeak-ng speaks about 2.5 a second at 150 words per minute.
SPEECH = (
    "Good morning and welcome to the weekly meeting of the video team. Today we will talk about "
    "the new service, the plans for next month, and the questions you sent us last week. First, "
    "the new upload page is ready. It is faster than the old one, and it shows how much of the "
    "file has arrived. Please try it before Friday and tell us what you think. Second, the team "
    "that writes the captions has finished the first version of the transcripts. Each video now "
    "has a written copy of what was said, with the time of every word. You can read it on the "
    "page of the video, or download it as a file for your own player. Third, we have moved the "
    "servers to a new building. The move went well, and nobody lost any work. The old machines "
    "will be switched off at the end of the month. If you still keep files on them, copy them to "
    "the new storage before then. Now for the questions. Many of you asked whether the service "
    "will work on phones. The answer is yes: the pages are small and quick, and the videos play "
    "on any modern browser. Others asked about the price. It will stay the same for this year, "
    "and every account keeps the credits it has today. Some of you asked how long a video may "
    "be. There is no limit on the length, but a very long video takes longer to process, and "
    "you will see its progress on the page while you wait. We also want to hear about anything "
    "that is slow or hard to find, so please write to us when something goes wrong. Finally, "
    "thank you all for your hard work this quarter. The next meeting is in two weeks, at the "
    "same time and in the same room. Have a good day."
)


# ---- the direct call: `bench/transcribe.py --direct FLAC THREADS BEAM`, one per line of stdin


def direct_main(flac: str, threads: int, beam_size: int) -> None:
    """Load the model as the product's child does, then transcribe `flac` once per input line;
    one JSON line out per call (the first: the load time)."""
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    model = WhisperModel(
        str(packaged_model_dir()),
        device="cpu",
        compute_type=COMPUTE_TYPE,
        cpu_threads=threads,
        num_workers=1,
    )
    print(json.dumps({"load_seconds": time.perf_counter() - started}), flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        segments, info = model.transcribe(
            flac, language="en", beam_size=beam_size, **DECODE_OPTIONS
        )
        text = " ".join(s.text.strip() for s in segments if s.text.strip())  # decodes them all
        seconds = time.perf_counter() - started
        print(json.dumps({"seconds": seconds, "duration": info.duration, "text": text}), flush=True)


class Direct:
    """The direct-call process, pinned where the server is; stopped by its pid."""

    def __init__(self, flac: Path, settings: Settings) -> None:
        threads = str(settings.local_whisper_threads)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": threads,  # as app/ai/local_whisper.py starts its child
            "OPENBLAS_NUM_THREADS": threads,
        }
        command = [*SERVER_PIN, sys.executable, __file__, "--direct", str(flac), threads]
        self.process = subprocess.Popen(
            [*command, str(settings.local_whisper_beam_size)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.load_seconds = self._read()["load_seconds"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the direct-call process exited ({self.process.wait()})")
        return json.loads(line)

    def transcribe(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return self._read()

    def peak_rss_mib(self) -> float:
        return status_kib(self.process.pid, "VmHWM") / 1024

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---- processes and memory (/proc)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def sched(pid: int) -> tuple[float, float]:
    """Seconds all threads of a process have run on a CPU, and been runnable but waited for
    one (/proc/<pid>/task/*/schedstat): the wait is other work on its CPU."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


def whisper_child(server: int) -> int | None:
    """The model's child process of the server, if it runs (scans /proc/*/stat for the ppid)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            if ppid == server and CHILD_MODULE in (entry / "cmdline").read_bytes().split(b"\0"):
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


class MemorySampler:
    """Peak RSS (KiB) of the server and of its model child, every SAMPLE_SECONDS, while the
    block runs; the child is looked for until it appears (the first job starts it)."""

    def __init__(self, server: int) -> None:
        self.server, self.child = server, None
        self.server_peak = self.child_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.server_peak = max(self.server_peak, status_kib(self.server, "VmRSS"))
            if self.child is None:
                self.child = whisper_child(self.server)
            if self.child is not None:
                try:
                    self.child_peak = max(self.child_peak, status_kib(self.child, "VmRSS"))
                except (OSError, KeyError):  # gone (a zombie has no VmRSS)
                    self.child = None

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- jobs


def start_job(url: str, token: str, video_id: int, kind: str = "transcribe") -> int:
    body = {"kind": kind, **({"options": {"language": "en"}} if kind == "transcribe" else {})}
    return http("POST", f"{url}/videos/{video_id}/jobs", json.dumps(body), token)["id"]


def finish_job(url: str, token: str, job_id: int, poll: float = POLL_SECONDS) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        job = http("GET", f"{url}/jobs/{job_id}", token=token)
        if job["status"] in ("succeeded", "failed", "canceled"):
            assert job["status"] == "succeeded", job
            return job
        assert time.monotonic() < deadline, job
        time.sleep(poll)


def run_seconds(job: dict[str, Any]) -> float:
    return (parse_time(job["finished_at"]) - parse_time(job["started_at"])).total_seconds()


def transcribe_job(url: str, token: str, video_id: int, server: int) -> dict[str, Any]:
    """One transcription job, start to success, with the memory sampled meanwhile, and the
    CPU time its model child used and waited for (zero before the first job starts it)."""
    child = whisper_child(server)
    before = sched(child) if child else (0.0, 0.0)
    with MemorySampler(server) as memory:
        job = finish_job(url, token, start_job(url, token, video_id))
    after = sched(memory.child) if memory.child else (float("nan"), float("nan"))
    transcript = http("GET", f"{url}{job['result_url']}", token=token)
    assert transcript["job_id"] == job["id"], transcript
    seconds = run_seconds(job)
    return {
        "model_cpu_seconds": after[0] - before[0],
        "model_wait_seconds": after[1] - before[1],
        "job_id": job["id"],
        "run_seconds": seconds,
        "audio_seconds": transcript["duration_seconds"],
        "speed": transcript["duration_seconds"] / seconds,
        "wer": word_error_rate(SPEECH, transcript["text"]),
        "text": transcript["text"],
        "child_pid": memory.child,
        "child_peak_rss_mib": memory.child_peak / 1024,
        "server_peak_rss_mib": memory.server_peak / 1024,
    }


def direct_call(direct: Direct) -> dict[str, Any]:
    before = sched(direct.process.pid)
    answer = direct.transcribe()
    after = sched(direct.process.pid)
    return {
        "model_cpu_seconds": after[0] - before[0],
        "model_wait_seconds": after[1] - before[1],
        "seconds": answer["seconds"],
        "audio_seconds": answer["duration"],
        "speed": answer["duration"] / answer["seconds"],
        "wer": word_error_rate(SPEECH, answer["text"]),
        "text": answer["text"],
    }


def bench_speed(url: str, token: str, video: int, flac: Path, settings: Settings) -> dict:
    server = server_pid(url)
    assert server is not None
    idle_rss = status_kib(server, "VmRSS") / 1024
    log("cold job: starts the model's child and loads the model")
    cold = transcribe_job(url, token, video, server)
    log(
        f"  {cold['run_seconds']:.2f} s, child {cold['child_pid']}, WER {cold['wer']:.3f}, "
        f"model CPU {cold['model_cpu_seconds']:.2f} s, waited {cold['model_wait_seconds']:.2f} s"
    )
    log("direct process: loading the model, one untimed call")
    direct = Direct(flac, settings)
    try:
        first_direct = direct_call(direct)
        log(f"  load {direct.load_seconds:.2f} s, first call {first_direct['seconds']:.2f} s")
        jobs, directs = [], []
        for r in range(1, ROUNDS + 1):
            directs.append(direct_call(direct))
            jobs.append(transcribe_job(url, token, video, server))
            d, j = directs[-1], jobs[-1]
            log(
                f"round {r}  direct {d['seconds']:.2f} s (WER {d['wer']:.3f}, model CPU "
                f"{d['model_cpu_seconds']:.2f} s, waited {d['model_wait_seconds']:.2f} s)"
                f"  job {j['run_seconds']:.2f} s (WER {j['wer']:.3f}, model CPU "
                f"{j['model_cpu_seconds']:.2f} s, waited {j['model_wait_seconds']:.2f} s)"
            )
        direct_peak = direct.peak_rss_mib()
    finally:
        direct.stop()
    # What the job does beside the model: the same extraction as an extract_audio job.
    extract = finish_job(url, token, start_job(url, token, video, "extract_audio"))
    child = whisper_child(server)
    return {
        "cold": cold,
        "jobs": jobs,
        "direct_first": first_direct,
        "direct": directs,
        "direct_load_seconds": direct.load_seconds,
        "direct_peak_rss_mib": direct_peak,
        "server_idle_rss_mib": idle_rss,
        "child_lifetime_peak_rss_mib": status_kib(child, "VmHWM") / 1024 if child else None,
        "extract_audio_run_seconds": run_seconds(extract),
        "same_child": len({j["child_pid"] for j in [cold, *jobs]}) == 1,
    }


def wait_transcribing(url: str, token: str, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = http("GET", f"{url}/jobs/{job_id}", token=token)
        if job["status"] == "running" and job["stage"] == "transcribing":
            return job
        assert job["status"] in ("queued", "running"), job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def bench_latency(url: str, token: str, video: int) -> dict[str, Any]:
    server = server_pid(url)
    wrk(f"{url}/me", 1, LOAD_CONNECTIONS, token=token)  # warm-up
    idle, during = [], []
    for r in range(1, ROUNDS + 1):
        wait_until_idle(server)
        result = wrk(f"{url}/me", LOAD_SECONDS, LOAD_CONNECTIONS, token=token)
        idle.append(result)
        log(
            f"round {r}  /me idle    p99 {result['p99_us'] / 1e3:.2f} ms  {result['rps']:.0f}/s"
            f"  loop waited {result['run_queue_wait_s']:.2f} s for a CPU"
        )

        job_id = start_job(url, token, video)
        before = wait_transcribing(url, token, job_id)
        child = whisper_child(server) if server else None
        child_cpu = cpu_seconds(child) if child else float("nan")
        result = wrk(f"{url}/me", LOAD_SECONDS, LOAD_CONNECTIONS, token=token)
        result["child_cpu_seconds"] = (cpu_seconds(child) if child else float("nan")) - child_cpu
        after = http("GET", f"{url}/jobs/{job_id}", token=token)
        # Valid only if the model worked through the whole load (still transcribing after it).
        result["transcribing_throughout"] = (after["status"], after["stage"]) == (
            "running",
            "transcribing",
        )
        result["progress"] = [before["progress"], after["progress"]]
        job = finish_job(url, token, job_id)
        result["job_run_seconds"] = run_seconds(job)
        during.append(result)
        log(
            f"round {r}  /me during  p99 {result['p99_us'] / 1e3:.2f} ms  {result['rps']:.0f}/s"
            f"  loop waited {result['run_queue_wait_s']:.2f} s for a CPU, model CPU "
            f"{result['child_cpu_seconds']:.2f} s in {LOAD_SECONDS} s, progress "
            f"{before['progress']:.2f} -> {after['progress']:.2f}, still transcribing: "
            f"{result['transcribing_throughout']}, job {result['job_run_seconds']:.1f} s"
        )
    return {"idle": idle, "during": during}


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def summary(speed: dict[str, Any], latency: dict[str, Any]) -> dict[str, Any]:
    jobs, directs, cold = speed["jobs"], speed["direct"], speed["cold"]
    warm_speed, direct_speed = median(jobs, "speed"), median(directs, "speed")
    job_wer = median([cold, *jobs], "wer")
    direct_wer = median([speed["direct_first"], *directs], "wer")
    idle_p99 = statistics.median(r["p99_us"] / 1e3 for r in latency["idle"])
    during_p99 = statistics.median(r["p99_us"] / 1e3 for r in latency["during"])
    valid = all(r["transcribing_throughout"] for r in latency["during"])
    waits = {k: statistics.median(r["run_queue_wait_s"] for r in v) for k, v in latency.items()}
    return {
        "job_warm_speed": warm_speed,
        "job_cold_speed": cold["speed"],
        "direct_speed": direct_speed,
        "speed_ratio": warm_speed / direct_speed,
        "speed_met": warm_speed / direct_speed >= TARGETS["speed_ratio"],
        "job_warm_seconds": median(jobs, "run_seconds"),
        "job_cold_seconds": cold["run_seconds"],
        "direct_seconds": median(directs, "seconds"),
        "second_job_no_slower": median(jobs, "run_seconds") <= cold["run_seconds"],
        "job_model_cpu_seconds": median(jobs, "model_cpu_seconds"),
        "direct_model_cpu_seconds": median(directs, "model_cpu_seconds"),
        "job_model_wait_seconds": median(jobs, "model_wait_seconds"),
        "direct_model_wait_seconds": median(directs, "model_wait_seconds"),
        "job_wer": job_wer,
        "direct_wer": direct_wer,
        "wer_difference": abs(job_wer - direct_wer),
        "wer_met": abs(job_wer - direct_wer) <= TARGETS["wer_difference"],
        "child_peak_rss_mib": max(j["child_peak_rss_mib"] for j in [cold, *jobs]),
        "server_peak_rss_mib": max(j["server_peak_rss_mib"] for j in [cold, *jobs]),
        "idle_p99_ms": idle_p99,
        "during_p99_ms": during_p99,
        "p99_ratio": during_p99 / idle_p99,
        "p99_met": valid and during_p99 / idle_p99 <= TARGETS["p99_ratio"],
        "latency_valid": valid,
        "idle_rps": median(latency["idle"], "rps"),
        "during_rps": median(latency["during"], "rps"),
        "idle_loop_wait_s": waits["idle"],
        "during_loop_wait_s": waits["during"],
        "during_model_cpu_s": median(latency["during"], "child_cpu_seconds"),
        "during_job_seconds": median(latency["during"], "job_run_seconds"),
    }


def loadavg() -> float:
    """The 1-minute load average: other work on this shared machine shows here."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_report(clip_seconds: float, settings: Settings, s: dict[str, Any], speed: dict) -> None:
    print(
        f"\nPhase 3: transcription of a {clip_seconds:.1f} s speech clip (espeak-ng), tiny.en "
        f"{COMPUTE_TYPE}, LOCAL_WHISPER_THREADS={settings.local_whisper_threads}, "
        f"LOCAL_WHISPER_NICE={settings.local_whisper_nice}, "
        f"beam {settings.local_whisper_beam_size}; medians of {ROUNDS} alternating rounds"
    )
    print(f"(h) audio s per wall s          {'job':>8}{'direct':>9}{'ratio':>8}   target")
    print(
        f"    warm                       {s['job_warm_speed']:>8.2f}{s['direct_speed']:>9.2f}"
        f"{s['speed_ratio']:>8.3f}   >= {TARGETS['speed_ratio']} {verdict(s['speed_met'])}"
    )
    print(
        f"    cold (first job, model load) {s['job_cold_speed']:>6.2f}"
        f"{'':>17}   warm <= cold: {verdict(s['second_job_no_slower'])}"
    )
    print(
        f"    wall s: job warm {s['job_warm_seconds']:.2f}, cold {s['job_cold_seconds']:.2f}; "
        f"direct {s['direct_seconds']:.2f} (load {speed['direct_load_seconds']:.2f}); "
        f"an extract_audio job {speed['extract_audio_run_seconds']:.2f}"
    )
    print(
        f"    model CPU s: job {s['job_model_cpu_seconds']:.2f}, direct "
        f"{s['direct_model_cpu_seconds']:.2f}; runnable but waiting for a CPU s: job "
        f"{s['job_model_wait_seconds']:.2f}, direct {s['direct_model_wait_seconds']:.2f}"
    )
    print(
        f"(i) word error rate             {s['job_wer']:>8.3f}{s['direct_wer']:>9.3f}"
        f"{s['wer_difference']:>8.3f}   difference <= {TARGETS['wer_difference']} "
        f"{verdict(s['wer_met'])}"
    )
    child_peak = speed["child_lifetime_peak_rss_mib"] or float("nan")
    print(
        f"(j) RSS MiB: model child peak {s['child_peak_rss_mib']:.0f} (VmHWM {child_peak:.0f}), "
        f"the same child for every job: {speed['same_child']}; server idle "
        f"{speed['server_idle_rss_mib']:.0f}, peak {s['server_peak_rss_mib']:.0f}; "
        f"direct process peak {speed['direct_peak_rss_mib']:.0f}"
    )
    print(
        f"(k) /me p99 ms, {LOAD_CONNECTIONS} conn {LOAD_SECONDS} s: idle {s['idle_p99_ms']:.2f}, "
        f"during a transcription {s['during_p99_ms']:.2f}, ratio {s['p99_ratio']:.2f}   "
        f"<= {TARGETS['p99_ratio']} {verdict(s['p99_met'])}"
        + ("" if s["latency_valid"] else " (the job left `transcribing` during a load)")
    )
    print(
        f"    req/s idle {s['idle_rps']:.0f}, during {s['during_rps']:.0f}; server loop waited "
        f"for a CPU {s['idle_loop_wait_s']:.2f} / {s['during_loop_wait_s']:.2f} s per run; "
        f"the model got {s['during_model_cpu_s']:.2f} CPU s per run, its job took "
        f"{s['during_job_seconds']:.1f} s"
    )


def main() -> None:
    if not have_espeak():
        sys.exit("espeak-ng is missing: apt-get install -y espeak-ng (make test installs it)")
    settings = Settings(_env_file=ROOT / ".env")
    if settings.local_whisper_model is not None:
        sys.exit("LOCAL_WHISPER_MODEL is set: this benchmark measures the packaged tiny.en")
    host = machine()  # before the pinning below: nproc counts the CPUs this process may use
    if SERVER_PIN:  # the driver and wrk on the other CPU(s), as bench/videos.py
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    RESULTS.mkdir(exist_ok=True)
    started, load_before = time.perf_counter(), loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-", dir=RESULTS) as name:
        tmp = Path(name)
        clip = speech_video(tmp / "talk.mp4", SPEECH)
        flac = flac16k(clip, tmp / "talk.flac")
        clip_seconds = audio_seconds(flac)
        log(f"speech clip: {len(SPEECH.split())} words, {clip_seconds:.1f} s")
        env = {
            **server_env(f"sqlite:///{tmp / 'transcribe.db'}"),
            "MEDIA_ROOT": str(tmp / "media"),
            "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
            "DEFAULT_CREDITS": "1000",
            "TRANSCRIBE_PROVIDER": "local",
        }
        with server("project", env) as url:
            token = register_and_login(url)
            video = upload_file(url, token, clip)["id"]
            assert wait_job(url, token, video)["status"] == "succeeded"
            speed = bench_speed(url, token, video, flac, settings)
            latency = bench_latency(url, token, video)
    figures = summary(speed, latency)
    load = {"before": load_before, "after": loadavg()}
    print_report(clip_seconds, settings, figures, speed)
    print(f"    load average (1 min) before {load['before']}, after {load['after']}")
    settings_used = {
        "model": "tiny.en (packaged)",
        "compute_type": COMPUTE_TYPE,
        "local_whisper_threads": settings.local_whisper_threads,
        "local_whisper_nice": settings.local_whisper_nice,
        "local_whisper_beam_size": settings.local_whisper_beam_size,
        "worker_concurrency": settings.worker_concurrency,
    }
    (RESULTS / "transcribe.json").write_text(
        json.dumps(
            {
                "machine": host,
                "seconds": time.perf_counter() - started,
                "clip_seconds": clip_seconds,
                "load_average_1min": load,
                "settings": settings_used,
                "targets": TARGETS,
                "summary": figures,
                "speed": speed,
                "latency": latency,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--direct"]:
        direct_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        try:
            main()
        finally:
            stop_all()
