"""A real `memorag serve` process on a free 127.0.0.1 port, and small clients for it (urllib, http.client).

Every wait is bounded: the start, each request (timeout) and each poll loop (count and deadline).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

START_TIMEOUT = 120.0  # seconds for imports and model loads on 2 busy cores
REQUEST_TIMEOUT = 120.0


def server_env() -> dict[str, str]:
    from memorag.weights_cache import cache_root

    env = {k: v for k, v in os.environ.items() if k != "MEMORAG_API_KEY"}
    env.update(MEMORAG_CACHE=str(cache_root()), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


class Server:
    """`memorag serve --stores STORES --port 0 ARGS`; `url` once the startup line has named the port."""

    def __init__(self, stores: Path, *args: str, key: str | None = None) -> None:
        self.stores, self.args, self.key = Path(stores), list(args), key
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.log = self.stores.parent / f"{self.stores.name}-server.log"

    def start(self) -> Server:
        command = [sys.executable, "-m", "memorag.cli", "serve", "--stores", str(self.stores), "--port", "0",
                   "--threads", "1", *self.args]
        if self.key:
            command += ["--api-key", self.key]
        log = self.log.open("a")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=server_env())
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line.startswith("memorag serve: http://"):
                self.url = line.split()[2]
                self.startup_line = line
                return self
        self.stop()
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def rss(self) -> int:
        import psutil

        return psutil.Process(self.pid).memory_info().rss

    # ----- clients -------------------------------------------------------------------------------------
    def headers(self, key: str | None = None, content_type: str | None = "application/json") -> dict[str, str]:
        key = self.key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return {**headers, "Content-Type": content_type} if content_type else headers

    def request(self, method: str, path: str, data: Any = None, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = REQUEST_TIMEOUT) -> tuple[int, Any]:
        """(status, parsed JSON body or text) of one request; JSON `data` or raw `body`."""
        if data is not None:
            body = json.dumps(data).encode()
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=self.headers() if headers is None else headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw, kind = response.status, response.read(), response.headers.get("content-type", "")
        except urllib.error.HTTPError as error:
            status, raw, kind = error.code, error.read(), error.headers.get("content-type", "")
        return status, json.loads(raw) if "json" in kind else raw.decode("utf-8", "replace")

    def upload(self, path: str, files: dict[str, bytes]) -> tuple[int, Any]:
        boundary = "memorag-test-boundary"
        parts = []
        for name, content in files.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                         "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body=body,
                            headers=self.headers(content_type=f"multipart/form-data; boundary={boundary}"))

    def wait_job(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.1) + 1):
            status, job = self.request("GET", f"/v1/jobs/{job_id}")
            assert status == 200, job
            if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.1)
        return job

    def add_texts(self, store: str, texts: dict[str, str]) -> dict[str, Any]:
        status, created = self.request("POST", f"/v1/stores/{store}/documents",
                                       {"texts": [{"source": s, "text": t} for s, t in texts.items()]})
        assert status == 202, created
        return self.wait_job(created["job_id"])

    def events(self, path: str, data: Any, timeout: float = REQUEST_TIMEOUT) -> list[tuple[float, str, str]]:
        """Server-Sent Events of a POST as (arrival time, event, data), read line by line as they come."""
        host, port = self.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            connection.request("POST", path, json.dumps(data), self.headers())
            response = connection.getresponse()
            assert response.status == 200, response.read()
            events, event, deadline = [], "message", time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\r\n")
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    events.append((time.monotonic(), event, text[6:]))
                    event = "message"
            return events
        finally:
            connection.close()
