"""The model slot: one model computation at a time in this process (asks, recalls, summaries, memorize jobs).

The stores share one memory model, one generator and one embedder (models.py), and recall hooks the memory
model's attention layers while it runs (memory/queries.py), so two computations on them at once would disturb
each other and multiply the activations in memory. Work waits here for its turn instead: memory stays flat under
load, and a request that waits past its deadline gets AskTimeoutError (504) without ever running. Waiting asks
sit in a bounded thread pool; `call` gives a cancel event to the work, which the streaming callbacks check, so a
timed-out or abandoned answer stops at its next token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from memorag.errors import AskTimeoutError

T = TypeVar("T")
WAITING_THREADS = 16  # asks waiting for the slot at once; more wait in the pool's queue (their deadline holds)
WAIT_STEP = 0.25  # seconds between a waiter's looks at its cancel event


class Cancelled(Exception):
    """Raised inside work whose caller stopped waiting (timeout, client gone); never reaches a client."""


def timed_out(timeout: float) -> AskTimeoutError:
    return AskTimeoutError(
        f"no answer within this server's limit of {timeout:g}s (the models may be busy with other requests or a "
        "memorize job): try again, ask with a smaller max_new_tokens or mode 'rag', or start the server with a "
        "longer --ask-timeout")


class ModelSlot:
    def __init__(self, waiting: int = WAITING_THREADS) -> None:
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=waiting, thread_name_prefix="memorag-ask")

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the slot for the body, however long it waits (the job worker's way in)."""
        with self._lock:
            yield

    def submit(self, work: Callable[[threading.Event], T], cancel: threading.Event, deadline: float,
               timeout: float) -> Future[T]:
        """Run `work(cancel)` in the slot on a pool thread; AskTimeoutError when the slot is not free by
        `deadline` (time.monotonic), Cancelled when `cancel` is set before the work starts."""
        return self._pool.submit(self._run, work, cancel, deadline, timeout)

    def _run(self, work: Callable[[threading.Event], T], cancel: threading.Event, deadline: float,
             timeout: float) -> T:
        while not self._lock.acquire(timeout=min(WAIT_STEP, max(0.0, deadline - time.monotonic()))):
            if cancel.is_set():
                raise Cancelled  # its caller is gone: free this thread for the next waiter
            if time.monotonic() >= deadline:
                raise timed_out(timeout)
        try:
            if cancel.is_set():
                raise Cancelled
            return work(cancel)
        finally:
            self._lock.release()

    async def call(self, work: Callable[[threading.Event], T], timeout: float) -> T:
        """`work(cancel)` in the slot, awaited for at most `timeout` seconds (queue time included)."""
        cancel = threading.Event()
        future = asyncio.wrap_future(self.submit(work, cancel, time.monotonic() + timeout, timeout))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise timed_out(timeout) from None
        finally:
            cancel.set()  # a late or abandoned answer stops at its next token

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def stop_when(cancel: threading.Event) -> Callable[[object], None]:
    """A streaming callback that only stops the work once `cancel` is set."""

    def check(_: object) -> None:
        if cancel.is_set():
            raise Cancelled

    return check
