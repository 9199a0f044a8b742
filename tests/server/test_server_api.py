"""`memorag serve` end to end: one real server process on 127.0.0.1 with an API key and a small upload limit, the
real embedded models (SmolLM2, MiniLM), tiny stores. Auth, limits, the error envelope, stores, documents and
their jobs, asks (JSON and Server-Sent Events), recall, summarize and the OpenAI client."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from serve_helpers import Server, server_env

pytestmark = pytest.mark.slow

KEY = "test-key-7f3a"
FACTS = {
    "lighthouse.md": "# Port Evander\n\nThe lighthouse of Port Evander has stood on the breakwater since 1871. "
                     "Its keeper, Mirela Vasquez, paints the lamp room teal every spring.",
    "orchard.txt": "The Halden orchard grows forty kinds of apple. Its cider press was built by a carpenter from "
                   "Lund and still turns by hand every October.",
}
QUESTION = "Who is the keeper of the lighthouse of Port Evander?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    stores = tmp_path_factory.mktemp("api") / "stores"
    running = Server(stores, "--max-upload-mb", "0.25", "--max-jobs", "8", key=KEY).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def town(server: Server) -> str:
    """A store holding FACTS, added through a JSON job."""
    assert server.request("POST", "/v1/stores", {"name": "town"})[0] == 201
    job = server.add_texts("town", FACTS)
    assert job["status"] == "done", job
    return "town"


def envelope_of(status: int, body: object, expected: int, kind: str | None = None) -> dict:
    assert status == expected, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert error["status"] == expected and error["message"] and error["type"]
    if kind:
        assert error["type"] == kind, error
    return error


def test_off_loopback_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "memorag.cli", "serve", "--stores", str(tmp_path / "s"), "--host", "0.0.0.0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=server_env(), check=False)
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in done.stderr and "--api-key" in done.stderr
    assert not (tmp_path / "s").exists()


def test_health_and_page_need_no_key_the_api_does(server: Server) -> None:
    assert server.request("GET", "/health", headers={}) == (200, {"status": "ok", "version": "0.1.0"})
    status, page = server.request("GET", "/", headers={})
    assert status == 200 and "<html" in page.lower() or envelope_of(status, page, 404, "NotFound")
    assert "bearer API key required" in server.startup_line
    for headers in ({}, server.headers(key="wrong-key"), {"Authorization": KEY}):  # none, wrong, not "Bearer"
        envelope_of(*server.request("GET", "/v1/stores", headers=headers), 401, "UnauthorizedError")
    assert server.request("GET", "/v1/stores")[0] == 200


def test_bad_requests_get_the_envelope(server: Server, town: str) -> None:
    error = envelope_of(*server.request("POST", "/v1/stores/town/ask", body=b"{not json"), 422, "ValidationError")
    assert error["details"]
    envelope_of(*server.request("POST", "/v1/stores/town/ask", {"question": "x", "top_k": "many"}), 422)
    envelope_of(*server.request("POST", "/v1/stores/town/ask", {"question": "x", "mode": "psychic"}), 422)
    envelope_of(*server.request("POST", "/v1/stores/town/ask", {"question": "x", "temperature": 2}), 422)
    envelope_of(*server.request("POST", "/v1/stores/town/documents", {"texts": []}), 422)
    envelope_of(*server.request("GET", "/v1/nowhere"), 404, "NotFound")
    envelope_of(*server.request("GET", "/v1/jobs/0123"), 404, "JobNotFoundError")
    envelope_of(*server.request("POST", "/v1/stores/nowhere/ask", {"question": "x"}), 404, "StoreNotFoundError")


def test_store_names_that_leave_the_folder_are_refused(server: Server) -> None:
    for name in ("../x", "..", ".memorag-server", "a/b"):
        envelope_of(*server.request("POST", "/v1/stores", {"name": name}), 400, "InvalidStoreNameError")
    envelope_of(*server.request("GET", "/v1/stores/.hidden/documents"), 400, "InvalidStoreNameError")
    envelope_of(*server.request("DELETE", "/v1/stores/.."), 400, "InvalidStoreNameError")
    status, _ = server.request("POST", "/v1/stores/..%2Fx/documents", {"texts": [{"text": "escape"}]})
    assert status in (400, 404)
    assert not (server.stores.parent / "x").exists()


def test_uploads_over_the_limit_get_413(server: Server, town: str) -> None:
    big = b"word " * 60_000  # 300 kB against 0.25 MiB
    error = envelope_of(*server.upload(f"/v1/stores/{town}/documents", {"big.txt": big}), 413)
    assert error["type"] == "PayloadTooLargeError" and "--max-upload-mb" in error["message"]
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)  # chunked: no Content-Length to refuse
    connection.request("POST", f"/v1/stores/{town}/documents", body=iter([big[:150_000], big[150_000:]]),
                       headers=server.headers(), encode_chunked=True)
    response = connection.getresponse()
    envelope_of(response.status, json.loads(response.read()), 413, "PayloadTooLargeError")
    connection.close()
    envelope_of(*server.request("POST", f"/v1/stores/{town}/ask", {"question": "x" * (2 << 20)}), 413)


def test_stores_list_create_and_delete(server: Server) -> None:
    assert server.request("POST", "/v1/stores", {"name": "scratch"}) == (201, {
        "name": "scratch", "status": "empty", "documents": 0, "chunks": 0, "revision": None})
    envelope_of(*server.request("POST", "/v1/stores", {"name": "scratch"}), 409, "StoreExistsError")
    listed = {s["name"]: s for s in server.request("GET", "/v1/stores")[1]["stores"]}
    assert listed["scratch"]["status"] == "empty"
    assert server.request("GET", "/v1/stores/scratch/documents") == (200, {"store": "scratch", "documents": []})
    envelope_of(*server.request("POST", "/v1/stores/scratch/ask", {"question": "x"}), 409, "NotMemorizedError")
    assert server.request("DELETE", "/v1/stores/scratch") == (200, {"deleted": "scratch"})
    envelope_of(*server.request("DELETE", "/v1/stores/scratch"), 404, "StoreNotFoundError")
    mine = server.stores / "mine"  # a user's folder under a store's name: never deleted, never written
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    envelope_of(*server.request("DELETE", "/v1/stores/mine"), 409, "NotOursError")
    envelope_of(*server.request("POST", "/v1/stores", {"name": "mine"}), 409, "NotOursError")
    envelope_of(*server.request("POST", "/v1/stores/mine/documents", {"texts": [{"text": "x"}]}), 409)
    assert (mine / "thesis.txt").read_text() == "years of work"


def test_documents_from_json_and_files_are_listed_and_deleted(server: Server, town: str) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("The ferry Aurora sails from the east quay to the islands twice a day.")
    buffer = io.BytesIO()
    document.save(buffer)
    files = {"ferry.docx": buffer.getvalue(), "festival.html": b"<html><body><article><p>Port Evander holds a "
             b"herring festival each August, with music on the quay.</p></article></body></html>"}
    status, created = server.upload(f"/v1/stores/{town}/documents", files)
    assert status == 202 and created["status"] == "queued"
    job = server.wait_job(created["job_id"])
    assert job["status"] == "done" and sorted(job["result"]["added"]) == ["ferry.docx", "festival.html"], job
    status, listed = server.request("GET", f"/v1/stores/{town}/documents")
    rows = {row["source"]: row for row in listed["documents"]}
    assert set(rows) == {*FACTS, *files}
    for source, text in FACTS.items():
        assert rows[source]["chars"] == len(text)
        assert rows[source]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert "Aurora" in server.request("POST", f"/v1/stores/{town}/ask", {
        "question": "Which ferry sails to the islands?", "mode": "rag", "max_new_tokens": 0, "top_k": 1,
        "retriever": "bm25"})[1]["evidence"][0]["text"]

    same = server.add_texts(town, {"orchard.txt": FACTS["orchard.txt"]})  # unchanged: skipped
    assert same["status"] == "done" and same["result"]["unchanged"] == ["orchard.txt"]
    envelope_of(*server.request("DELETE", f"/v1/stores/{town}/documents/nothing.md"), 404, "DocumentNotFoundError")
    status, created = server.request("DELETE", f"/v1/stores/{town}/documents/festival.html")
    assert status == 202
    assert server.wait_job(created["job_id"])["result"]["documents"] == 3
    sources = [row["source"] for row in server.request("GET", f"/v1/stores/{town}/documents")[1]["documents"]]
    assert sorted(sources) == sorted([*FACTS, "ferry.docx"])

    odd = "notes/week 1 #2.md"  # a source with a slash, a space and a '#': URL-encoded in the path
    assert server.add_texts(town, {odd: "The mill wheel was mended in week one."})["status"] == "done"
    status, created = server.request("DELETE", f"/v1/stores/{town}/documents/{quote(odd, safe='')}")
    assert status == 202 and server.wait_job(created["job_id"])["status"] == "done"
    assert odd not in [row["source"] for row in server.request("GET", f"/v1/stores/{town}/documents")[1]["documents"]]


def test_a_failed_job_says_what_to_do(server: Server, town: str) -> None:
    status, created = server.upload(f"/v1/stores/{town}/documents", {"blob.bin": b"\x00\x01binary" * 10})
    assert status == 202
    job = server.wait_job(created["job_id"])
    assert job["status"] == "failed" and job["error"]["type"] == "InputDecodeError"
    assert "blob.bin looks binary" in job["error"]["message"] and "uploads" not in job["error"]["message"]


def test_ask_returns_answer_evidence_with_offsets_and_timings(server: Server, town: str) -> None:
    status, answer = server.request("POST", f"/v1/stores/{town}/ask",
                                    {"question": QUESTION, "mode": "rag", "max_new_tokens": 16})
    assert status == 200 and answer["answer"].strip() and answer["mode"] == "rag"
    assert set(answer["timings"]) == {"retrieve", "generate"}
    texts = {**FACTS}
    for number, passage in enumerate(answer["evidence"], 1):
        assert passage["number"] == number
        if passage["source"] in texts:  # offsets point at the text the passage holds
            assert texts[passage["source"]][passage["start"]:passage["end"]] == passage["text"]
    assert any("Mirela Vasquez" in passage["text"] for passage in answer["evidence"])


def test_ask_streams_evidence_then_tokens_before_the_answer_is_done(server: Server, town: str) -> None:
    events = server.events(f"/v1/stores/{town}/ask", {"question": QUESTION, "mode": "rag", "max_new_tokens": 16,
                                                      "stream": True})
    kinds = [kind for _, kind, _ in events]
    assert kinds[0] == "evidence" and kinds[-1] == "done" and kinds.count("token") > 1, kinds
    assert set(kinds[1:-1]) == {"token"}
    evidence = json.loads(events[0][2])["evidence"]
    done = json.loads(events[-1][2])
    assert [p["text"] for p in evidence] == [p["text"] for p in done["evidence"]]
    tokens = "".join(json.loads(data)["text"] for _, kind, data in events if kind == "token")
    assert tokens.strip() and (tokens == done["answer"] or done["dropped_citations"])  # before citation checks
    first_token = next(t for t, kind, _ in events if kind == "token")
    assert first_token < events[-1][0]  # the first piece arrived before the answer was complete


def test_recall_and_summarize(server: Server, town: str) -> None:
    status, recalled = server.request("POST", f"/v1/stores/{town}/recall",
                                      {"question": QUESTION, "recall": "copy"})
    assert status == 200 and recalled["recall"] == "copy" and isinstance(recalled["clues"], list)
    status, summary = server.request("POST", f"/v1/stores/{town}/summarize",
                                     {"points": 2, "max_new_tokens": 16, "top_k": 1})
    assert status == 200 and summary["mode"] == "summarize" and summary["evidence"], summary


def test_the_openai_client_works_unchanged(server: Server, town: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=120)
    assert town in [model.id for model in client.models.list()]
    ask = {"model": town, "messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": QUESTION}],
           "max_tokens": 16, "extra_body": {"mode": "rag"}}
    completion = client.chat.completions.create(**ask)
    text = completion.choices[0].message.content
    assert completion.object == "chat.completion" and completion.model == town and text.strip()
    pieces, finish = [], None
    for chunk in client.chat.completions.create(**ask, stream=True):
        assert chunk.object == "chat.completion.chunk"
        pieces.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "stop" and "".join(pieces).strip()
    assert completion.model_extra["memorag"]["evidence"]
    with pytest.raises(openai.NotFoundError, match="no store"):
        client.chat.completions.create(**{**ask, "model": "nowhere"})
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
