"""``make run``: migrate, bootstrap, then run the web server and a django-q2 cluster
until Ctrl-C (SIGINT) or SIGTERM, and stop both. This process holds the embedded
PostgreSQL for their lifetime; it stops when the last of them exits."""

import os
import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Set up and run the web server and a worker cluster together."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("RAGDESK_ADDR", "127.0.0.1:8000"))

    def handle(self, *args, addr, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        call_command("bootstrap")
        manage = [sys.executable, "manage.py"]
        children = [
            subprocess.Popen([*manage, "runserver", addr, "--noreload"]),
            subprocess.Popen([*manage, "qcluster"]),
        ]
        self.stdout.write(self.style.SUCCESS(
            f"\n  ragdesk runs at http://{addr}/ (admin: /admin/). Ctrl-C stops it.\n"
        ))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                child.terminate()  # SIGTERM: both stop gracefully on it
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stdout.write("  Stopped the web server and the worker cluster.")
