"""``make run``: migrate, bootstrap, requeue operations a previous stop interrupted,
then run the web server and a django-q2 cluster until Ctrl-C (SIGINT), SIGTERM or
SIGHUP (the terminal closed), and stop both. This process holds the embedded PostgreSQL for their lifetime; it stops
when the last of them exits.

The children run in their own process groups, so only this process receives the
terminal's Ctrl-C: it asks each to stop (SIGTERM), waits GRACE_SECONDS, then kills
what is left of each group, worker processes included — nothing outlives ``make run``.
An operation cut off that way is requeued at the next start (or by the reaper)."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from operations_app.recovery import operations_recover_stale

GRACE_SECONDS = 10


def _kill_group(child: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


def _single_launch_lock():
    """Hold an exclusive lock on ``<data dir>/launch.lock`` while running; a second
    ``make run`` on the same data folder stops at once with a clear message."""
    import fcntl

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(settings.DATA_DIR / "launch.lock", "w")  # noqa: SIM115 - held open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise CommandError(
            f"ragdesk is already running from {settings.DATA_DIR}; stop it first (Ctrl-C "
            "in its terminal)."
        ) from None
    return handle


class Command(BaseCommand):
    help = "Set up and run the web server and a worker cluster together."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("RAGDESK_ADDR", "127.0.0.1:8000"))

    def handle(self, *args, addr, **options):
        lock = _single_launch_lock()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        call_command("bootstrap")
        # With the embedded server (and the lock above) no worker of ours runs now, so
        # every RUNNING operation was cut off by the last stop.
        stale = settings.RAGDESK_STALE_AFTER_SECONDS if os.environ.get("DATABASE_URL") else 0
        if requeued := operations_recover_stale(
            stale_after_seconds=stale, max_attempts=settings.RAGDESK_MAX_ATTEMPTS
        ):
            self.stdout.write(f"  Requeued {requeued} operation(s) cut off by the last stop.")
        manage = [sys.executable, "manage.py"]
        children = {
            "web server": subprocess.Popen(
                [*manage, "runserver", addr, "--noreload"], start_new_session=True),
            "worker cluster": subprocess.Popen(
                [*manage, "qcluster"], start_new_session=True),
        }
        self.stdout.write(self.style.SUCCESS(
            f"\n  ragdesk runs at http://{addr}/ (admin: /admin/). Ctrl-C stops it.\n"
        ))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, stop)  # the terminal was closed
        while not stopping and all(c.poll() is None for c in children.values()):
            time.sleep(0.2)
        failed = {name: c.returncode for name, c in children.items() if c.poll() is not None}
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # SIGTERM: both stop gracefully on it
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(child, signal.SIGKILL)  # workers the cluster did not stop in time
            child.wait()
        self.stdout.write("  Stopped the web server and the worker cluster.")
        if failed and not stopping:
            names = ", ".join(f"the {n} (exit code {rc})" for n, rc in failed.items())
            raise CommandError(f"{names} stopped by itself; see its output above.")
        lock.close()
