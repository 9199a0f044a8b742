"""What a running server holds: settings, the shared models, the model slot, the job queue and the stores.

Opened by the app's lifespan (app.py), apart from build_app: `ServerState.open` prepares the server's folder and
fails interrupted jobs (no model loads), `warm` loads the models, `start` starts the job worker, `close` stops it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from memorag.config import GenerationConfig, MemoryConfig, RetrievalConfig
from memorag.server.jobs.serving import Job, JobQueue, Work
from memorag.server.models import ModelPool
from memorag.server.settings import ServerSettings
from memorag.server.slot import ModelSlot
from memorag.server.stores.serving import StoreRegistry


@dataclass
class ServerState:
    settings: ServerSettings
    models: ModelPool
    slot: ModelSlot
    jobs: JobQueue
    stores: StoreRegistry
    interrupted: list[Job]  # jobs the last server left unfinished, failed at this start

    @classmethod
    def open(cls, settings: ServerSettings) -> ServerState:
        settings.server_dir.mkdir(parents=True, exist_ok=True)
        uploads = settings.server_dir / "uploads"
        shutil.rmtree(uploads, ignore_errors=True)  # files of jobs a stopped server never ran: they failed
        uploads.mkdir()
        jobs = JobQueue(settings.server_dir / "jobs", settings.max_jobs)
        interrupted = jobs.recover()
        models = ModelPool(GenerationConfig(device=settings.device))
        return cls(settings, models, ModelSlot(), jobs, StoreRegistry(settings, models), interrupted)

    @property
    def uploads_dir(self) -> Path:
        return self.settings.server_dir / "uploads"

    def warm(self) -> None:
        device = self.settings.device
        self.models.warm(MemoryConfig(device=device), RetrievalConfig(device=device))

    def start(self) -> None:
        self.jobs.start()

    def close(self) -> None:
        self.jobs.close()
        self.slot.close()

    def submit(self, name: str, kind: str, make_work: Callable[[], Work]) -> Job:
        """Queue a job for store `name` (a store or an empty entry; 404 otherwise, 429 when the queue is full)."""
        with self.stores.lock:  # a store delete cannot slip between the check and the queueing
            self.stores.require_target(name)
            return self.jobs.submit(kind, name, make_work())


def state_of(request: Request) -> ServerState:
    return request.app.state.memorag


State = Annotated[ServerState, Depends(state_of)]  # a route's `state: State` parameter
