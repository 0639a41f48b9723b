"""Blocking work off the event loop, in a bounded pool.

Under asyncio the pipeline's steps and finishers (budget reservation, cache lookup, settle and
the audit record: SQLite `BEGIN IMMEDIATE` or PostgreSQL row locks that may wait for another
process) run in `offload`, so the loop keeps serving other tasks while a transaction waits.
The pool is bounded (200 concurrent calls share `WORKERS` threads, and the stores keep one
connection per thread), and created on first use.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

WORKERS = 8
_pool: ThreadPoolExecutor | None = None
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="unyo-io")
            # Start every worker now (each waits for the others, so none is idle to be reused):
            # a thread started on demand, mid-burst, costs the loop a GIL switch interval or more.
            ready = threading.Barrier(WORKERS)
            for _ in range(WORKERS):
                _pool.submit(ready.wait, 5.0)
        return _pool


def start() -> None:
    """Create the pool and its threads ahead of the first call (AsyncOpenAI does, when built)."""
    _executor()


async def offload(fn: Callable[..., T], *args: Any, orphan: Callable[[T], Any] | None = None) -> T:
    """`fn(*args)` in the bounded pool, with the caller's context variables (as `asyncio.to_thread`).

    A cancelled caller stops waiting, but the work still runs to its end (a settle is never lost,
    a reservation never cut in half); `orphan(result)` then runs in the pool with what nobody
    awaited (a prepared call whose hold must be released)."""
    context = contextvars.copy_context()
    async with _gate():  # at most WORKERS in the pool; the rest wait here, woken one at a time
        future = _executor().submit(context.run, fn, *args)
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            if orphan is not None:
                future.add_done_callback(functools.partial(_adopt, orphan, context))
            raise


def _gate() -> asyncio.Semaphore:
    """This loop's admission to the pool. Without it, 200 calls started together would all be
    submitted in one pass of the loop, and their workers would then compete with the loop for
    the GIL while it still had the other submissions to make."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(WORKERS)
    return gate


def _adopt(orphan: Callable[[Any], Any], context: contextvars.Context, future: Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    try:
        _executor().submit(context.copy().run, orphan, future.result())
    except RuntimeError:  # the interpreter is shutting down: the hold expires on its own
        pass
