"""Background jobs (memorize, delete): queued, run one at a time by one worker thread, persisted as JSON.

Each job is a small file `.memorag-server/jobs/ID.json`, rewritten atomically (durable.write_text_atomic) at
every change of status or stage. A server that stops with jobs queued or running (a restart, a crash, kill -9)
finds them on its next start and marks them `failed` with JobInterruptedError, so no job is lost silently; the
store they were writing is then the one before the job or the one after it (store writes are atomic).
One worker is enough: every job needs the model slot (slot.py), so two could not run at once anyway, and it
keeps each store's jobs in the order they were queued.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memorag.durable import write_text_atomic
from memorag.errors import JobInterruptedError, JobNotFoundError, MemoRAGError, TooManyJobsError

log = logging.getLogger("memorag.server")
JOB_ID = re.compile(r"[0-9a-f]{32}")
KEEP_FINISHED = 1000  # finished job files kept across restarts (the oldest are removed at start)
ACTIVE = ("queued", "running")

Progress = Callable[[str, "float | None"], None]
Work = Callable[[Progress], dict[str, Any]]


@dataclass
class Job:
    """One job's record, as GET /v1/jobs/{id} returns it; times are Unix seconds."""

    id: str
    kind: str  # memorize | delete
    store: str
    status: str = "queued"  # queued | running | done | failed
    progress: dict[str, Any] = field(default_factory=lambda: {"stage": "queued", "fraction": 0.0})
    error: dict[str, str] | None = None  # {"type", "message"}: the MemoRAGError's class and what to do
    result: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interrupted(job: Job) -> Job:
    error = JobInterruptedError(
        f"this {job.kind} job was {job.status} when the server stopped (a restart, crash or kill), so it did not "
        f"finish: store {job.store!r} holds its documents from before the job, or from after it if its write "
        f"had completed; check GET /v1/stores/{job.store}/documents and send the request again")
    job.status, job.finished = "failed", time.time()
    job.error = {"type": type(error).__name__, "message": str(error)}
    return job


class JobQueue:
    def __init__(self, folder: Path, max_jobs: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_jobs = max_jobs
        self._jobs: dict[str, Job] = {}
        self._work: dict[str, Work] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # ----- start and stop ------------------------------------------------------------------------------
    def recover(self) -> list[Job]:
        """Mark the jobs a stopped server left queued or running as failed; drop the oldest finished files."""
        found = []
        for path in self.folder.glob("*.json"):
            job = self._read(path)
            if job is not None and job.status in ACTIVE:
                found.append(interrupted(job))
                self._save(job)
        for leftover in self.folder.glob(".*.tmp-*"):  # a write the stop interrupted (the old file is whole)
            leftover.unlink(missing_ok=True)
        finished = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in finished[:-KEEP_FINISHED]:
            path.unlink(missing_ok=True)
        return found

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="memorag-jobs", daemon=True)
        self._worker.start()

    def close(self, wait: float = 30.0) -> None:
        """Stop taking jobs: the queued ones fail as interrupted now, the running one gets `wait` seconds."""
        with self._lock:
            for job in self._jobs.values():
                if job.status == "queued":
                    self._save(interrupted(job))
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(wait)

    # ----- submit and read -----------------------------------------------------------------------------
    def submit(self, kind: str, store: str, work: Work) -> Job:
        with self._lock:
            if self._count_active() >= self.max_jobs:
                raise TooManyJobsError(
                    f"this server already holds {self.max_jobs} queued or running jobs: wait for some to finish "
                    "(GET /v1/jobs/ID) and send the request again, or start the server with a larger --max-jobs")
            job = Job(uuid.uuid4().hex, kind, store)
            self._jobs[job.id], self._work[job.id] = job, work
            self._save(job)
        self._queue.put(job.id)
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.to_dict()
        job = self._read(self.folder / f"{job_id}.json") if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise JobNotFoundError(f"no job {job_id[:64]!r} on this server: use the job_id a POST returned "
                                   f"(finished jobs are kept for the last {KEEP_FINISHED})")
        return job.to_dict()

    def active(self, store: str | None = None) -> int:
        with self._lock:
            return self._count_active(store)

    def _count_active(self, store: str | None = None) -> int:
        return sum(1 for j in self._jobs.values() if j.status in ACTIVE and store in (None, j.store))

    # ----- the worker ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                job, work = self._jobs[job_id], self._work.pop(job_id)
                if job.status != "queued":  # failed by close() while waiting
                    continue
                job.status, job.started = "running", time.time()
                job.progress = {"stage": "starting", "fraction": 0.0}
                self._save(job)
            self._execute(job, work)

    def _execute(self, job: Job, work: Work) -> None:
        def progress(stage: str, fraction: float | None) -> None:
            with self._lock:
                job.progress = {"stage": stage, "fraction": None if fraction is None else round(fraction, 3)}
                self._save(job)

        try:
            result, error = work(progress), None
        except MemoRAGError as exc:
            result, error = None, {"type": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # a job must end as failed, whatever went wrong
            log.exception("job %s (%s of store %r) failed", job.id, job.kind, job.store)
            result, error = None, {"type": "InternalError",
                                   "message": f"the job failed unexpectedly ({type(exc).__name__}: {exc}); the "
                                              "server's log has the details"}
        with self._lock:
            job.status = "done" if error is None else "failed"
            job.result, job.error, job.finished = result, error, time.time()
            job.progress = {"stage": job.status, "fraction": 1.0 if error is None else job.progress["fraction"]}
            self._save(job)

    # ----- files ---------------------------------------------------------------------------------------
    def _save(self, job: Job) -> None:
        write_text_atomic(self.folder / f"{job.id}.json", json.dumps(job.to_dict(), ensure_ascii=False))

    def _read(self, path: Path) -> Job | None:
        try:
            return Job(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
