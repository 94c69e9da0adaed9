"""A worker asked to stop (SIGTERM from a deployment, SIGINT from Ctrl-C) ends its
operation between batches and hands it back to the queue instead of dying in the
middle of one (issue 4, "Graceful stop").

django-q2 runs a task in the main thread of a worker process whose SIGTERM would kill
it at once and whose SIGINT is ignored; while an operation runs, ``stop_signals()``
replaces both with a handler that only records the signal. The run checks
``stop_requested()`` before every batch (run.py ``_Run.check``) and raises
WorkerStopping; the operation goes RUNNING → PENDING (operations_app.recovery
``operation_requeue``), and ``exit_worker_if_stopping()`` then ends the worker
process, as the signal asked. Outside a main thread (a test's thread) nothing is
installed."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from multiprocessing import current_process

logger = logging.getLogger("ragdesk.ingestion")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []


class WorkerStopping(Exception):
    """The worker process was asked to stop; the operation must be handed back."""


def stop_requested() -> str | None:
    """The name of the stop signal received while an operation ran, or None."""
    return signal.Signals(_received[0]).name if _received else None


def _record(signum, frame) -> None:
    if not _received:
        logger.warning("worker %s: %s received, stopping after this batch",
                       os.getpid(), signal.Signals(signum).name)  # fmt: skip
    _received.append(signum)


@contextlib.contextmanager
def stop_signals():
    """Record SIGTERM and SIGINT instead of acting on them, for the duration of the
    block; the previous handlers come back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {s: signal.signal(s, _record) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exit_worker_if_stopping() -> None:
    """End this django-q2 worker process when a stop signal came during the
    operation: the operation is back in the queue, and the process must not take
    the next task. Never in the main process (tests, ``sync`` runs)."""
    if _received and current_process().name != "MainProcess":
        logger.warning("worker %s: exiting on %s", os.getpid(), stop_requested())
        logging.shutdown()
        os._exit(0)
