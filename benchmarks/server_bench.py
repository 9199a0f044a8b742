"""`memorag serve` under load: a real server process on 127.0.0.1, a small store, concurrent asks.

    .venv/bin/python benchmarks/server_bench.py --write docs/benchmarks.md

  store       ~2.9k SmolLM2 tokens of the Python Language Reference (a few statements' sections), memorized
              through POST /v1/stores/NAME/documents and its job (wall clock from the POST to the job done)
  load        for each mode (`rag`, `memorag`) and each level of concurrent clients (1, 4, 8): --requests
              non-streamed asks (max_new_tokens --max-new-tokens), each client one request at a time;
              requests/s over the level's wall clock, p50 and p95 latency of one request
  stream      --stream-repeats streamed asks per mode, one at a time: time to the `evidence` event, to the first
              `token` event and to the `done` event, beside the whole non-streamed answer at 1 client
  RSS         the server's resident memory (psutil, children included) when it first answers, after the store is
              memorized and after the last ask

One warm-up ask per mode first (it loads the models). Threads: the server process inherits OMP_NUM_THREADS.
Prints one JSON object; --write puts the table into docs/benchmarks.md (section `server`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import emit

API_KEY = "bench-key"
TOPICS = ("assert", "pass", "nonlocal", "del", "break", "continue", "return", "global", "raise", "while", "if")
QUESTIONS = (
    "What does the nonlocal statement do?",
    "What happens when a pass statement is executed?",
    "What does the del statement do to a name?",
    "When does the assert statement raise AssertionError?",
    "What does the global statement declare?",
    "What does a break statement do in a loop?",
    "What does raise do without an expression?",
    "When is the else clause of a while loop executed?",
)
START_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 600.0
ASK_TIMEOUT_S = 600.0


def store_text() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in TOPICS)


class Client:
    """One HTTP/1.1 connection to the server (http.client is not thread-safe: one per thread)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=ASK_TIMEOUT_S)
        try:
            headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
            connection.request(method, path, json.dumps(body) if body is not None else None, headers)
            response = connection.getresponse()
            data = response.read()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:500]!r}")
            return json.loads(data) if data else None
        finally:
            connection.close()

    def stream(self, path: str, body: dict) -> dict[str, float]:
        """POST a streamed ask; seconds from the request to the first event of each name (and to the end)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=ASK_TIMEOUT_S)
        started = time.perf_counter()
        firsts: dict[str, float] = {}
        try:
            headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json",
                       "Accept": "text/event-stream"}  # fmt: skip
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            if response.status >= 400:
                raise RuntimeError(f"POST {path}: HTTP {response.status}: {response.read()[:500]!r}")
            tokens = 0
            for raw in response:  # line by line, as the server flushes them
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event:"):
                    name = line[len("event:"):].strip()
                    firsts.setdefault(name, time.perf_counter() - started)
                    tokens += name == "token"
                    if name in ("done", "error"):
                        break
            firsts["end"] = time.perf_counter() - started
            firsts["tokens"] = tokens
        finally:
            connection.close()
        return firsts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(stores: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "memorag.cli", "serve", "--stores", str(stores), "--host", "127.0.0.1",
               "--port", str(port), "--api-key", API_KEY]  # fmt: skip
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"memorag serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            Client(port).request("GET", "/v1/stores")
            return server
        except (OSError, RuntimeError):
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"memorag serve did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2**20, 1)


def memorize(client: Client, store: str) -> float:
    started = time.perf_counter()
    client.request("POST", "/v1/stores", {"name": store})
    job = client.request("POST", f"/v1/stores/{store}/documents",
                         {"texts": [{"source": "reference.txt", "text": store_text()}]})  # fmt: skip
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status = client.request("GET", f"/v1/jobs/{job['job_id']}")
        if status["status"] == "done":
            return round(time.perf_counter() - started, 2)
        if status["status"] == "failed":
            raise RuntimeError(f"memorize failed: {status.get('error')}")
        time.sleep(0.25)
    raise RuntimeError(f"memorize did not finish within {JOB_TIMEOUT_S} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)  # linear interpolation between the closest ranks
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def load_level(port: int, store: str, mode: str, clients: int, requests: int, max_new_tokens: int) -> dict:
    """`requests` asks from `clients` concurrent clients; requests/s and latency percentiles."""

    def one(i: int) -> float:
        body = {"question": QUESTIONS[i % len(QUESTIONS)], "mode": mode, "max_new_tokens": max_new_tokens}
        started = time.perf_counter()
        Client(port).request("POST", f"/v1/stores/{store}/ask", body)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    return {"mode": mode, "clients": clients, "requests": requests, "wall_s": round(wall, 2),
            "requests_per_s": round(requests / wall, 3), "p50_s": round(percentile(latencies, 0.5), 2),
            "p95_s": round(percentile(latencies, 0.95), 2), "mean_s": round(statistics.fmean(latencies), 2)}  # fmt: skip


def stream_times(port: int, store: str, mode: str, repeats: int, max_new_tokens: int) -> dict:
    runs = []
    for i in range(repeats):
        body = {"question": QUESTIONS[i % len(QUESTIONS)], "mode": mode, "max_new_tokens": max_new_tokens,
                "stream": True}  # fmt: skip
        runs.append(Client(port).stream(f"/v1/stores/{store}/ask", body))

    def median(key: str) -> float | None:
        values = [run[key] for run in runs if key in run]
        return round(statistics.median(values), 2) if values else None

    return {"mode": mode, "repeats": repeats, "evidence_s": median("evidence"), "first_token_s": median("token"),
            "done_s": median("done"), "tokens": median("tokens")}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        started = time.perf_counter()
        server = start_server(Path(tmp) / "stores", port, log)
        result: dict[str, Any] = {"startup_s": round(time.perf_counter() - started, 2),
                                  "rss_mb": {"started": rss_mb(server.pid)}}  # fmt: skip
        try:
            client = Client(port)
            result["store"] = {"characters": len(store_text()), "memorize_s": memorize(client, "bench")}
            result["rss_mb"]["memorized"] = rss_mb(server.pid)
            for mode in args.modes:  # warm-up: loads the judge and the generator
                client.request("POST", "/v1/stores/bench/ask",
                               {"question": QUESTIONS[0], "mode": mode, "max_new_tokens": args.max_new_tokens})  # fmt: skip
            result["load"] = [load_level(port, "bench", mode, clients, args.requests, args.max_new_tokens)
                              for mode in args.modes for clients in args.clients]  # fmt: skip
            result["stream"] = [stream_times(port, "bench", mode, args.stream_repeats, args.max_new_tokens)
                                for mode in args.modes]  # fmt: skip
            result["rss_mb"]["after"] = rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    result["machine"] = {"cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset")}
    return result


def markdown(result: dict) -> str:
    store, rss, machine = result["store"], result["rss_mb"], result["machine"]
    tokens = round(store["characters"] / 4.15, -2)  # CHARS_PER_TOKEN of benchmarks/pipeline_bench.py
    header = (f"Store: {store['characters']:,} characters (~{tokens:,.0f} SmolLM2 tokens), memorized through "
              f"the API in {store['memorize_s']} s; server up in {result['startup_s']} s.")
    rows = [
        header,
        "",
        "| mode | clients | requests | requests/s | p50 s | p95 s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for level in result["load"]:
        rows.append(f"| {level['mode']} | {level['clients']} | {level['requests']} | {level['requests_per_s']} | "
                    f"{level['p50_s']} | {level['p95_s']} |")  # fmt: skip
    single = {level["mode"]: level["p50_s"] for level in result["load"] if level["clients"] == 1}
    rows += [
        "",
        "| streamed ask, one at a time | evidence event s | first token s | done s | not streamed, p50 at 1 client s |",
        "|---|---:|---:|---:|---:|",
    ]
    for stream in result["stream"]:
        rows.append(f"| {stream['mode']} (median of {stream['repeats']}) | {stream['evidence_s']} | "
                    f"{stream['first_token_s']} | {stream['done_s']} | {single.get(stream['mode'], '–')} |")  # fmt: skip
    memory = (f"Server RSS (MB, children included): {rss['started']} when up, {rss['memorized']} after "
              f"memorizing, {rss['after']} after the asks.")
    rows += [
        "",
        memory,
        "",
        f"Machine: {machine['cpus']} CPUs, OMP_NUM_THREADS {machine['omp_num_threads']}.",
        "",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["rag", "memorag"], choices=["rag", "memorag"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 8], help="levels of concurrent clients")
    parser.add_argument("--requests", type=int, default=12, help="asks per mode and level")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--stream-repeats", type=int, default=3, help="streamed asks per mode")
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    result = run(args)
    emit(result, markdown(result), "server_bench.py", args.write, "server", argv, kind="bench")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
