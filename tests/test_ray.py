"""Memorize on Ray (memorag.distributed) against a local cluster of 2 CPUs that this module starts and stops.

The store made on Ray equals the one made here (chunks, vectors, memory segments, evidence), a worker killed
mid-run is restarted and nothing lands twice, and without executor="ray" Ray is never imported. Real embedded
models (SmolLM2 memory, MiniLM embedder, as in `MemoRAG()`), small documents.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import psutil
import pytest
import torch
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from memorag.cli import cli
from memorag.config import MemoryConfig
from memorag.errors import NotOursError, RayUnavailableError, RayUnsupportedError
from memorag.pipeline import MemoRAG

PEOPLE = {
    "lovelace": ("Ada Lovelace", "the first published program, for the Analytical Engine, in 1843"),
    "hopper": ("Grace Hopper", "the A-0 compiler for the UNIVAC in 1952"),
    "hamilton": ("Margaret Hamilton", "the Apollo guidance software at MIT in 1969"),
    "turing": ("Alan Turing", "a paper on computable numbers in 1936"),
}
QUESTION = "Who built the A-0 compiler?"
KILL_WAIT = 60.0  # seconds the killer waits for a worker to start a document


def notes(name: str, work: str) -> str:
    """A few hundred tokens about one person, different in every sentence."""
    lines = [f"{name} is remembered for {work}."]
    lines += [f"Note {i}: in year {1900 + 7 * i} {name.split()[0]} met colleague number {i * 13 % 97} and "
              f"discussed topic {i * 31 % 89} of the history of computing." for i in range(12)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """torch on one thread here, as in each Ray worker: the plain store is made the way the workers make theirs
    (and two threads on a shared two-core machine are slower, not faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("people")
    for key, (name, work) in PEOPLE.items():
        (path / f"{key}.md").write_text(f"# {name}\n\n{notes(name, work)}", encoding="utf-8")
    return path


class Reference(NamedTuple):
    rag: MemoRAG  # the store memorized here, without Ray, loaded
    evidence: list[tuple[int, str]]  # (chunk id, text) of its answer to QUESTION


@pytest.fixture(scope="module")
def plain(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    store = tmp_path_factory.mktemp("plain") / "store"
    MemoRAG().memorize(folder, store=store)
    rag = MemoRAG.load(store)
    return Reference(rag, evidence(rag))


def evidence(rag: MemoRAG) -> list[tuple[int, str]]:
    return [(p.chunk.chunk_id, p.chunk.text) for p in rag.ask(QUESTION, max_new_tokens=0).evidence]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cluster_processes(root: str) -> list[psutil.Process]:
    """Every process of the cluster whose temp dir is `root` (its command lines name it), and their children
    (the workers, whose titles do not)."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        if process.pid != os.getpid() and any(root in part for part in process.info["cmdline"] or []):
            found[process.pid] = process
            found.update({child.pid: child for child in process.children(recursive=True)})
    return list(found.values())


def stop_cluster(root: str) -> None:
    """Only this module's cluster (`ray stop` would stop every cluster on the machine)."""
    processes = cluster_processes(root)
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


class Cluster(NamedTuple):
    address: str
    root: str  # its temp dir, named by the command line of each of its processes

    def workers(self) -> set[int]:
        """Pids of the cluster's worker processes (the children of its raylet)."""
        raylets = [p for p in cluster_processes(self.root) if p.name() == "raylet"]
        return {child.pid for raylet in raylets for child in raylet.children()}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A fresh Ray head on 127.0.0.1 with 2 CPUs, in a short temp dir (Ray's sockets live there)."""
    root = tempfile.mkdtemp(prefix="mray")
    port = free_port()
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--node-ip-address", "127.0.0.1",
               "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false", "--temp-dir", root,
               "--disable-usage-stats"]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        yield Cluster(f"127.0.0.1:{port}", root)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        stop_cluster(root)
        shutil.rmtree(root, ignore_errors=True)


def assert_same_store(store: Path, reference: Reference, ask: bool = True) -> None:
    ours, theirs = MemoRAG.load(store), reference.rag
    assert [(d.source, d.text) for d in ours.documents] == [(d.source, d.text) for d in theirs.documents]
    assert ours.retriever.chunks == theirs.retriever.chunks
    np.testing.assert_allclose(ours.retriever.index.vectors(), theirs.retriever.index.vectors(), atol=1e-5)
    mine, expected = ours.memory.segments, theirs.memory.segments
    assert [(s.tokens, s.beta, s.entries) for s in mine] == [(s.tokens, s.beta, s.entries) for s in expected]
    for a, b in zip(mine, expected, strict=True):
        for x, y in zip([*a.keys, *a.values], [*b.keys, *b.values], strict=True):
            torch.testing.assert_close(x, y)  # equal in practice: the same model, threads and float16 rounding
        assert all(torch.equal(x, y) for x, y in zip(a.sources, b.sources, strict=True))
    if ask:
        assert evidence(ours) == reference.evidence and reference.evidence


def test_the_cli_memorizes_on_ray_and_the_store_equals_the_plain_one(cluster, folder, plain, tmp_path):
    store = tmp_path / "store"
    result = CliRunner().invoke(cli, ["memorize", str(folder), "--store", str(store), "--ray", cluster.address,
                                      "--ray-workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert "ray_memorize" in json.loads(result.stdout)["timings"]
    assert_same_store(store, plain)


def test_a_worker_killed_mid_run_is_retried_and_no_document_lands_twice(cluster, folder, plain, tmp_path):
    killed: list[int] = []

    def kill_a_working_actor() -> None:  # the first actor seen memorizing a document, of this cluster only
        deadline = time.monotonic() + KILL_WAIT
        while not killed and time.monotonic() < deadline:
            for process in psutil.process_iter(["cmdline"]):
                title = " ".join(process.info["cmdline"] or [])
                if title.startswith("ray::DocumentWorker.memorize") and process.pid in cluster.workers():
                    process.kill()
                    killed.append(process.pid)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_working_actor, daemon=True)
    killer.start()
    store = tmp_path / "store"
    MemoRAG().memorize(folder, store=store, executor="ray", ray_address=cluster.address, workers=2)
    killer.join(KILL_WAIT)
    assert killed, "no worker was seen memorizing a document"
    sources = [d.source for d in MemoRAG.load(store).documents]
    assert sorted(sources) == sorted(str(path) for path in folder.iterdir()) and len(set(sources)) == len(sources)
    assert_same_store(store, plain, ask=False)  # the CLI test compares the answers


def test_without_ray_memorize_never_imports_ray(tmp_path):
    script = ("import sys\nfrom memorag.pipeline import MemoRAG\n"
              f"MemoRAG().memorize('Ada Lovelace wrote the first program.', store={str(tmp_path / 's')!r})\n"
              "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_an_address_where_no_cluster_listens_is_a_clear_error(tmp_path):
    started = time.monotonic()
    with pytest.raises(RayUnavailableError, match="ray start --head"):
        MemoRAG().memorize("Ada Lovelace wrote the first program.", executor="ray",
                           ray_address=f"127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 30


def test_without_ray_installed_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(RayUnavailableError, match=r"pip install 'memorag\[ray\]'"):
        MemoRAG().memorize("Ada Lovelace wrote the first program.", executor="ray")


def test_a_folder_that_is_not_a_store_is_refused_untouched(cluster, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own notes")
    with pytest.raises(NotOursError):
        MemoRAG().memorize("Ada Lovelace wrote the first program.", store=mine, executor="ray",
                           ray_address=cluster.address)
    assert [p.name for p in tmp_path.iterdir()] == ["mine"] and [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("kind", ["gist", "none"])
def test_memory_kinds_that_cannot_be_memorized_apart_are_refused(kind):
    with pytest.raises(RayUnsupportedError, match="kv"):
        MemoRAG(MemoryConfig(kind=kind)).memorize("Ada Lovelace wrote the first program.", executor="ray")


def test_an_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="executor"):
        MemoRAG().memorize("Ada Lovelace wrote the first program.", executor="dask")
