"""GET /v1/jobs/{job_id}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from memorag.server.auth import require_key
from memorag.server.jobs.protocol import JobStatus

router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobStatus)
def job_status(job_id: str, request: Request) -> dict:
    return request.app.state.memorag.jobs.get(job_id)
