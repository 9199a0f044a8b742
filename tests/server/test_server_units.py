"""The server's parts around the models, without them: names, exposure, the error envelope's statuses, the job
queue (with fake work), the model slot's deadline and the body limit (a fake ASGI app)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from memorag import errors
from memorag.server.jobs.serving import Job, JobQueue
from memorag.server.limits import BodyLimit
from memorag.server.settings import ServerSettings, check_exposure, check_store_name, is_loopback
from memorag.server.slot import Cancelled, ModelSlot, stop_when
from memorag.server.stores.intake import upload_name


@pytest.mark.parametrize("name", ["papers", "book-2024", "a", "v1.2_final", "A" * 64])
def test_store_names_allowed(name: str) -> None:
    assert check_store_name(name) == name


@pytest.mark.parametrize("name", ["../x", "..", ".", ".hidden", "a/b", "a\\b", "", "A" * 65, "sp ace", "x\x00",
                                  ".memorag-server", "é"])
def test_store_names_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidStoreNameError, match="letters, digits"):
        ServerSettings(tmp_path).store_path(name)


def test_loopback_needs_no_key_anything_else_does() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.4", "example.org", ""]))
    check_exposure(ServerSettings(Path("s")))
    check_exposure(ServerSettings(Path("s"), host="0.0.0.0", api_key="k"))
    with pytest.raises(errors.ExposedServerError, match="--api-key"):
        check_exposure(ServerSettings(Path("s"), host="0.0.0.0"))


def test_every_memorag_error_gets_a_status() -> None:
    from memorag.server.envelope import memorag_error_envelope, status_of

    assert status_of(errors.StoreNotFoundError("x")) == 404
    assert status_of(errors.UnsupportedInputError("x")) == 400  # through InputDecodeError
    assert status_of(errors.TooManyJobsError("x")) == 429
    assert status_of(errors.AskTimeoutError("x")) == 504
    assert status_of(errors.StoreCorruptError("x")) == 500  # ours to fix, not the client's
    assert memorag_error_envelope(errors.DocumentNotFoundError("no such doc")) == {
        "error": {"type": "DocumentNotFoundError", "message": "no such doc", "status": 404}}


@pytest.mark.parametrize(("filename", "expected"), [("notes.md", "notes.md"), ("../../etc/passwd", "passwd"),
                                                    ("C:\\Users\\me\\a.pdf", "a.pdf"), ("..", "upload-3"),
                                                    (None, "upload-3"), ("a\x00b\nc.txt", "a_b_c.txt")])
def test_upload_names_lose_folders_and_control_characters(filename: str | None, expected: str) -> None:
    assert upload_name(filename, 3) == expected


# ----- the job queue -----------------------------------------------------------------------------------------
def wait_for(queue: JobQueue, job_id: str, statuses: tuple[str, ...], timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} stayed {job['status']}")


def test_jobs_run_in_order_report_progress_and_errors(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "jobs", max_jobs=4)
    queue.start()
    order: list[str] = []

    def good(progress):
        progress("reading", 0.5)
        order.append("good")
        return {"documents": 1}

    def bad(progress):
        order.append("bad")
        raise errors.InputDecodeError("notes.bin looks binary: give text")

    first, second = queue.submit("memorize", "s", good), queue.submit("memorize", "s", bad)
    done, failed = wait_for(queue, first.id, ("done",)), wait_for(queue, second.id, ("failed",))
    assert order == ["good", "bad"]
    assert done["result"] == {"documents": 1} and done["progress"] == {"stage": "done", "fraction": 1.0}
    assert failed["error"] == {"type": "InputDecodeError", "message": "notes.bin looks binary: give text"}
    on_disk = json.loads((tmp_path / "jobs" / f"{second.id}.json").read_text())
    assert on_disk["status"] == "failed"
    queue.close()


def test_the_queue_refuses_jobs_past_its_limit(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "jobs", max_jobs=2)
    queue.start()
    release = threading.Event()
    jobs = [queue.submit("memorize", "s", lambda p: {"released": release.wait(10)}) for _ in range(2)]
    with pytest.raises(errors.TooManyJobsError, match="--max-jobs"):
        queue.submit("memorize", "s", lambda p: {})
    assert queue.active("s") == 2 and queue.active("other") == 0
    release.set()
    for job in jobs:
        wait_for(queue, job.id, ("done",))
    queue.submit("memorize", "s", lambda p: {})  # room again
    queue.close()


def test_a_restart_fails_the_jobs_it_finds_unfinished(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    for letter, status in zip("abc", ("queued", "running", "done"), strict=True):
        job = Job(letter * 32, "memorize", "s", status)
        (folder / f"{job.id}.json").write_text(json.dumps(job.to_dict()))
    (folder / ".cccc.json.tmp-x").write_text("{")  # a write the kill interrupted
    queue = JobQueue(folder, max_jobs=4)
    found = queue.recover()
    assert sorted(job.id[0] for job in found) == ["a", "b"]
    for letter in "ab":
        job = queue.get(letter * 32)
        assert job["status"] == "failed" and job["error"]["type"] == "JobInterruptedError"
        assert "send the request again" in job["error"]["message"]
    assert queue.get("c" * 32)["status"] == "done"
    assert not list(folder.glob(".*.tmp-*"))
    with pytest.raises(errors.JobNotFoundError):
        queue.get("../../etc/passwd")


# ----- the model slot ----------------------------------------------------------------------------------------
def test_the_slot_times_out_and_cancels_work_that_waits_for_it() -> None:
    slot = ModelSlot(waiting=2)
    started, stopped = threading.Event(), threading.Event()

    def slow(cancel: threading.Event) -> str:
        started.set()
        check = stop_when(cancel)
        try:
            for _ in range(500):  # a generator writing tokens, checking its callback each time
                check("piece")
                time.sleep(0.01)
        except Cancelled:
            stopped.set()
            raise
        return "finished"

    async def scenario() -> None:
        with pytest.raises(errors.AskTimeoutError, match="--ask-timeout"):
            await slot.call(slow, timeout=0.2)
        assert started.is_set() and stopped.wait(5)  # the abandoned work stopped at its next piece
        assert await slot.call(lambda cancel: "free", timeout=5) == "free"  # and the slot is free again

    asyncio.run(scenario())
    slot.close()


# ----- the body limit ----------------------------------------------------------------------------------------
def run_limited(chunks: list[bytes], declared: int | None, limit: int = 10) -> tuple[int, dict, bytes]:
    """Send `chunks` through BodyLimit to an app that reads the whole body and answers 200 with its size."""

    async def app(scope, receive, send):
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-length", str(declared).encode())] if declared is not None else []
    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": headers}
    asyncio.run(BodyLimit(app, lambda method, path: limit)(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(body) if status != 200 else {}, body


def test_bodies_over_the_limit_get_413_in_the_envelope() -> None:
    assert run_limited([b"12345", b"67890"], 10)[0] == 200
    status, envelope, _ = run_limited([b"x" * 11], 11)  # declared too long
    assert status == 413 and envelope["error"]["type"] == "PayloadTooLargeError"
    status, envelope, _ = run_limited([b"123456", b"789012", b"more"], None)  # chunked: counted as it comes
    assert status == 413 and "--max-upload-mb" in envelope["error"]["message"]


def test_a_taken_port_is_a_listen_error_that_says_what_to_do() -> None:
    import socket

    from memorag.server.app import bind

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(errors.ListenError, match="another --port"):
            bind(ServerSettings(Path("s"), port=port))
    bind(ServerSettings(Path("s"), port=0)).close()


def test_an_unexpected_error_is_a_500_envelope_without_its_traceback(tmp_path: Path) -> None:
    from memorag.server.app import build_app

    app = build_app(ServerSettings(tmp_path))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail at /srv/private")

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "path": "/boom",
             "raw_path": b"/boom", "query_string": b"", "headers": [], "scheme": "http", "server": ("t", 80),
             "client": ("t", 1), "root_path": ""}
    with pytest.raises(RuntimeError):  # raised again after the response, for the server's log
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 500
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["error"]["type"] == "InternalError" and body["error"]["status"] == 500
    assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)
