"""Memorize on Ray (issue 20): Ray actors read the documents' memory segments and embed their chunks; the driver
commits everything into its pipeline, so a store gets one write under its lock (MemoRAG.memorize(executor="ray")
memorizes on the RayCluster that `connect` gives).

The driver plans the betas of the whole batch first (KVMemory.plan: one beta for all new documents when they fit
the window together, as the plain path chooses), so each worker's segments equal the plain path's (up to the float
rounding of another thread count). A worker (`DocumentWorker`, one CPU) loads the memory model and the embedder
once and answers one document a task: its segment as safetensors bytes with a dict of counts, and its chunks'
vectors as safetensors bytes; no object of ours is pickled. The driver chunks again (cheap, deterministic) and adds
the vectors it was given (Retriever.add(vectors=)). A worker that dies is restarted and its tasks retried
(MAX_RESTARTS); each result is placed at its document's position once, so no document lands twice.

Only memory kinds kv and full: a gist memory's betas depend on the gists the workers would write first, and kind
none has no memory to read. Not here: installing memorag on the cluster's nodes (each needs it, and the models),
nor a memory adapter folder on other machines (its path must exist on every node).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from memorag.config import MemoryConfig, RetrievalConfig, config_from_dict, config_to_dict
from memorag.errors import MemoRAGError, RayUnavailableError, RayUnsupportedError, RayWorkerError
from memorag.memory.segments import segment_from_bytes, segment_to_bytes
from memorag.types import Document

RAY_KINDS = ("kv", "full")
MAX_RESTARTS = 3  # times a dead worker is restarted, its tasks retried, before memorize gives up
IN_FLIGHT = 2  # tasks queued on each worker, so that the next document is there when one ends
CONNECT_TIMEOUT = 5.0  # seconds for the cluster's address to answer: ray.init waits minutes where nothing listens


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("memorizing on Ray (--ray, executor='ray') needs Ray: "
                                  "pip install 'memorag[ray]'") from exc
    return ray


def check_kind(config: MemoryConfig) -> None:
    if config.kind not in RAY_KINDS:
        raise RayUnsupportedError(f"memory kind {config.kind!r} cannot be memorized on Ray, only kinds {RAY_KINDS} "
                                  "(their documents are memorized apart): memorize it without --ray")


def reachable(address: str) -> str:
    """`address` as Ray reads it ("auto": RAY_ADDRESS, else the cluster `ray start` started last), once something
    answers there within CONNECT_TIMEOUT; RayUnavailableError, saying what to do, when nothing does."""
    if address.startswith("ray://"):
        return address  # Ray Client: ray.init reports its own connection errors
    try:
        from ray._private.services import canonicalize_bootstrap_address  # Ray's own reading of "auto"
    except ImportError:  # moved in another Ray version: ray.init will tell
        return address
    hint = ("start one with `ray start --head --num-cpus N` (docs/scale.md, \"Memorize on Ray\") or pass the address "
            "of a running one (--ray HOST:6379)")
    try:
        resolved = canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as exc:
        raise RayUnavailableError(f"no Ray cluster at {address!r} ({exc}): {hint}") from exc
    if resolved is None:
        return address  # "local": ray.init starts a cluster in this process
    host, _, port = resolved.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT).close()
    except (OSError, ValueError) as exc:
        raise RayUnavailableError(f"no Ray cluster answers at {address!r} ({resolved}: {exc}): {hint}") from exc
    return resolved


class DocumentWorker:
    """A Ray actor's state: the memory model and the embedder of the driver's configs, loaded once."""

    def __init__(self, memory: dict[str, Any], retrieval: dict[str, Any]) -> None:
        from memorag.pipeline import MemoRAG
        from memorag.threads import set_threads

        set_threads(1)  # one CPU per actor (num_cpus=1): more threads would fight the other actors for cores
        rag = MemoRAG(config_from_dict(MemoryConfig, memory), config_from_dict(RetrievalConfig, retrieval))
        self.memory, self.retriever = rag.memory, rag.retriever  # both loaded now, once

    def memorize(self, position: int, source: str, text: str, pages: list[int], beta: int) -> dict[str, Any]:
        """The document's segment at `beta` and its chunks' vectors, as bytes and plain values."""
        from safetensors.numpy import save

        document = Document(source, text, tuple(pages))
        (segment,) = self.memory.read_segments([document], [beta])
        counts, tensors = segment_to_bytes(segment)
        vectors = save({"vectors": self.retriever.embed([document])})  # (n_chunks, dimension)
        return {"position": position, "counts": counts, "segment": tensors, "vectors": vectors}


@contextmanager
def connect(address: str = "auto", workers: int | None = None) -> Iterator[RayCluster]:
    """A RayCluster on the cluster at `address` for one memorize call. It connects unless this process is connected
    already (and then leaves that connection open at the end)."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    ray = import_ray()
    ours = not ray.is_initialized()
    if ours:
        ray.init(address=reachable(address), log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield RayCluster(ray, workers)
    finally:
        if ours:
            ray.shutdown()


class RayCluster:
    """Memorizes documents on `workers` actors of a connected Ray (None: one per CPU of the cluster)."""

    def __init__(self, ray: Any, workers: int | None = None) -> None:
        self._ray, self.workers = ray, workers

    def memorize(self, rag: Any, documents: Sequence[Document], progress: bool = False) -> dict[str, float]:
        """Memorize and index `documents` into the pipeline `rag` (a MemoRAG, which has sorted them out)."""
        check_kind(rag.memory_config)
        started = time.perf_counter()
        actors = self._start(rag, len(documents))  # they load their models while the driver plans
        try:
            results = self._run(actors, documents, rag.memory.plan(documents), progress)
        finally:
            for actor in actors:
                self._ray.kill(actor)
        timings = {"ray_memorize": time.perf_counter() - started}
        started = time.perf_counter()
        commit(rag, documents, results)
        timings["index"] = time.perf_counter() - started
        return timings

    def _start(self, rag: Any, documents: int) -> list[Any]:
        ray = self._ray
        count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        worker = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(DocumentWorker)
        memory, retrieval = config_to_dict(rag.memory_config), config_to_dict(rag.retrieval_config)
        return [worker.remote(memory, retrieval) for _ in range(min(count, documents))]

    def _run(
        self, actors: list[Any], documents: Sequence[Document], betas: Sequence[int], progress: bool
    ) -> list[dict[str, Any]]:
        """Every document's result, in document order; a worker gets the next document when one of its ends."""
        from tqdm.auto import tqdm

        waiting = deque(range(len(documents)))
        running: dict[Any, tuple[int, Any]] = {}  # task -> (document position, actor)
        results: list[dict[str, Any] | None] = [None] * len(documents)

        def submit(actor: Any) -> None:
            if waiting:
                position = waiting.popleft()
                document = documents[position]
                task = actor.memorize.remote(position, document.source, document.text, list(document.pages),
                                             betas[position])
                running[task] = (position, actor)

        for actor in actors * IN_FLIGHT:
            submit(actor)
        with tqdm(total=len(documents), unit="doc", desc="memorize on ray", disable=not progress) as bar:
            while running:
                (task,), _ = self._ray.wait(list(running), num_returns=1)
                position, actor = running.pop(task)
                result = self._result(task, documents[position])
                if result["position"] != position or results[position] is not None:
                    raise RayWorkerError(f"a Ray worker answered document {result['position']} for {position}")
                results[position] = result
                bar.update(1)
                submit(actor)
        return results  # type: ignore[return-value]  # every position is filled: each task answered once

    def _result(self, task: Any, document: Document) -> dict[str, Any]:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(task)  # type: ignore[no-any-return]
        except exceptions.RayTaskError as exc:  # the task raised: our own errors come out as they are
            if isinstance(exc.cause, MemoRAGError):
                raise exc.cause from None
            raise
        except exceptions.RayActorError as exc:
            raise RayWorkerError(f"the Ray worker memorizing {document.source} died {MAX_RESTARTS + 1} times: "
                                 f"see the cluster's logs (`ray logs`), e.g. for memory ({exc})") from exc


def commit(rag: Any, documents: Sequence[Document], results: Sequence[dict[str, Any]]) -> None:
    """Put the workers' segments and vectors into the pipeline's memory and index, index first (it checks the
    vectors before it changes anything)."""
    import numpy as np
    from safetensors.numpy import load

    memory = rag.memory
    segments = [segment_from_bytes(r["counts"], r["segment"], memory.model.device) for r in results]
    vectors = [load(r["vectors"])["vectors"] for r in results]
    rag.retriever.add(documents, first_doc_id=len(rag.documents), vectors=np.concatenate(vectors))
    memory.add_segments(segments)


__all__ = ["RAY_KINDS", "DocumentWorker", "RayCluster", "check_kind", "commit", "connect", "reachable"]
