"""``manage.py launch`` (``make run``) when one of its children exits by itself: the
web server on a port already in use must not leave a worker cluster running and a
command that exits 0."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from operations_app.management.commands import launch

pytestmark = pytest.mark.django_db


@pytest.fixture
def children(monkeypatch, settings, tmp_path):
    """Run launch without its set-up commands, with the real web server and, for the
    worker cluster, a stand-in that sleeps (a real cluster would take work from the
    queue). Yields the started processes by their first distinctive argument."""
    settings.DATA_DIR = tmp_path  # the launch lock, apart from any running `make run`
    monkeypatch.setattr(launch, "call_command", lambda *args, **kwargs: None)
    monkeypatch.chdir(settings.BASE_DIR)
    started: dict[str, subprocess.Popen] = {}
    real_popen = subprocess.Popen

    def popen(args, **kwargs):
        if "qcluster" in args:
            args = [sys.executable, "-c", "import time; time.sleep(120)"]
            started["qcluster"] = proc = real_popen(args, **kwargs)
        else:
            started["runserver"] = proc = real_popen(args, **kwargs)
        return proc

    monkeypatch.setattr(launch.subprocess, "Popen", popen)
    handlers = {
        s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    yield started
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    for proc in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_web_server_on_a_busy_port_stops_the_cluster_and_fails(children):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        began = time.monotonic()
        with pytest.raises(CommandError) as exc:
            call_command("launch", addr=addr, stdout=io.StringIO())
    assert "web server (exit code 1)" in str(exc.value)
    assert exc.value.returncode != 0
    assert children["runserver"].returncode == 1
    assert children["qcluster"].poll() is not None  # stopped, not left behind
    assert time.monotonic() - began < 60


def test_hangup_of_the_terminal_stops_both_children(children):
    """Closing the terminal (SIGHUP) must stop what make run started, like Ctrl-C."""
    import os
    import threading

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{free.getsockname()[1]}"
    hangup = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGHUP))
    hangup.start()
    try:
        call_command("launch", addr=addr, stdout=io.StringIO())
    finally:
        hangup.cancel()
    assert children["runserver"].poll() is not None
    assert children["qcluster"].poll() is not None
