"""Jobs on the wire: what a POST that starts one returns (202), and GET /v1/jobs/{id}."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class JobCreated(BaseModel):
    job_id: str
    status: Literal["queued"] = "queued"


class JobProgress(BaseModel):
    stage: str  # queued, starting, reading, memorizing, deleting, done, failed
    fraction: float | None  # 0..1 where known (reading files); None while memorizing


class JobError(BaseModel):
    type: str  # the MemoRAGError's class, e.g. InputDecodeError, JobInterruptedError
    message: str  # what went wrong and what to do


class JobStatus(BaseModel):
    id: str
    kind: Literal["memorize", "delete"]
    store: str
    status: Literal["queued", "running", "done", "failed"]
    progress: JobProgress
    error: JobError | None = None
    result: dict[str, Any] | None = None  # memorize: added, replaced, unchanged, documents, timings
    created: float
    started: float | None = None
    finished: float | None = None
