"""Soak: many operations under random cancels, worker kills and refresh bursts, then
the invariants of issue 4 checked. Not a test: it prints figures and exits 0 when no
invariant is broken and nothing is stuck, 1 otherwise.

    .venv/bin/python bench/soak.py [--minutes 4] [--operations 200] [--assets 20]
                                   [--clusters 2] [--workers 2] [--seed 1]

What runs, in its own database ``ragdesk_bench_soak`` (emptied first; the name must
contain ``bench``):
- a local OpenAI-compatible embeddings server (tests/embedding_server.py; 50 ms +
  10 ms a chunk per request, usage counted by the server) and ``--clusters`` real
  ``qcluster`` processes of ``--workers`` workers with the product's settings
  (``RAGDESK_STALE_AFTER_SECONDS`` 60 unless set in the environment);
- ``--assets`` upload assets of 4–8 documents each (their INGEST operations), then,
  until ``--operations`` operations exist or ``--minutes`` pass, every 0.3–1.2 s one
  of: a refresh (sometimes of changed files, sometimes forced), a burst of 10–30
  concurrent refresh requests for one asset, a cancel of a random active operation,
  SIGKILL or SIGTERM to one cluster's process group (at most one every 20 s; the
  cluster is started again at once, as a supervisor would);
- then it waits until every operation is terminal (or a deadline: stuck), and runs
  ``manage.py check_consistency`` when that command exists, plus its own checks.

Printed: operations by final status and type, refresh requests and how many
coalesced, resumptions (WORKER_LOST / WORKER_STOPPED followed by a new start), kill
→ resumption seconds (median, max; target ≤ 90), cancel → CANCELLED seconds
(median, p99; target ≤ 2), invariants broken (target: none), stuck operations.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Clusters:
    """``n`` qcluster processes, each in its own process group."""

    def __init__(self, n: int, workers: int, env: dict, logs: Path):
        self.workers, self.env, self.logs = workers, env, logs
        self.procs: list[subprocess.Popen] = [self._start(i) for i in range(n)]
        self.generation = 0

    def _start(self, i: int) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"cluster-{i}-{time.time():.0f}.log", "wb")
        return subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
            cwd=BASE_DIR, env={**self.env, "RAGDESK_WORKERS": str(self.workers)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self, i: int, sig: int) -> None:
        """Signal cluster ``i``'s group; after SIGTERM give its worker 10 s to hand
        its operation back (as `make run` does), then SIGKILL the rest; start a
        new cluster in its place."""
        proc = self.procs[i]
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGTERM:
            threading.Timer(10, self._finish, (proc,)).start()
        else:
            proc.wait()
        self.procs[i] = self._start(i)

    @staticmethod
    def _finish(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            self._finish(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--operations", type=int, default=200)
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    from ingest import setup_django

    from tests.embedding_server import EmbeddingServer

    work = Path(tempfile.mkdtemp(prefix="ragdesk-soak-"))
    setup_django(os.environ.get("RAGDESK_BENCH_DB_NAME", "ragdesk_bench_soak"), work)
    from django.contrib.auth.models import User
    from django.db import connection

    from assets_app.models import Asset, Membership, Role, Tenant, UploadedFile
    from assets_app.services import UploadInput, asset_create_from_uploads, asset_refresh

    def upload(name: str, data: str) -> UploadInput:
        raw = data.encode()
        return UploadInput(name=name, size=len(raw), stream=io.BytesIO(raw))
    from operations_app.models import ACTIVE_STATUSES, Operation, OperationEvent
    from operations_app.services import operation_request_cancel

    # The bench database is emptied, django-q2's schedules too: put back the reaper's
    # (as migrations operations_app 0003 and 0006 install them).
    import importlib

    from django.apps import apps

    for name in ("0003_reaper_schedule", "0006_reaper_every_30_seconds"):
        module = importlib.import_module(f"operations_app.migrations.{name}")
        (getattr(module, "add_schedule", None) or module.add_second)(apps, None)

    server = EmbeddingServer(delay=0.05, delay_per_input=0.01).start()
    env = {**os.environ, "RAGDESK_OPENAI_BASE_URL": server.base_url, "PYTHONUNBUFFERED": "1"}
    stale = int(os.environ.get("RAGDESK_STALE_AFTER_SECONDS", "60"))
    clusters = Clusters(args.clusters, args.workers, env, work / "logs")
    try:  # no cluster outlives the soak, whatever fails

        words = "tenant asset chunk vector index cursor worker cluster batch token refresh".split()

        def text(n: int) -> str:
            return "\n\n".join(
                " ".join(rng.choice(words) for _ in range(rng.randint(60, 160))) for _ in range(n)
            )

        tenant = Tenant.objects.create(slug="soak", name="Soak")
        user = User.objects.create_user("soak")
        member = Membership.objects.create(tenant=tenant, user=user, role=Role.ADMIN)
        for a in range(args.assets):
            files = [
                upload(f"doc{d}.txt", text(rng.randint(40, 240)))
                for d in range(rng.randint(4, 8))
            ]
            asset_create_from_uploads(
                actor=member, display_name=f"soak-{a}", files=files,
                embedding_provider="openai", embedding_model="text-embedding-3-small",
                embedding_dimensions=1536,
            )  # fmt: skip
        assets = list(Asset.objects.filter(tenant=tenant))
        requests, kills, last_kill = 0, [], time.monotonic()
        started = time.monotonic()
        deadline = started + args.minutes * 60

        def refresh(asset, **kw):
            from django.db import connections

            try:
                asset_refresh(actor=member, asset=asset, **kw)
            finally:
                if threading.current_thread() is not threading.main_thread():
                    connections.close_all()  # a burst thread's own connection

        while time.monotonic() < deadline and Operation.objects.filter(tenant=tenant).count() < args.operations:
            action = rng.random()
            asset = rng.choice(assets)
            if action < 0.50:
                if rng.random() < 0.4:  # change one file so the refresh re-embeds it
                    f = rng.choice(list(UploadedFile.objects.filter(asset=asset)))
                    UploadedFile.objects.filter(pk=f.pk).update(data=text(rng.randint(40, 240)).encode())
                refresh(asset, force=rng.random() < 0.3)
                requests += 1
            elif action < 0.62:
                burst = [threading.Thread(target=refresh, args=(asset,)) for _ in range(rng.randint(10, 30))]
                for t in burst:
                    t.start()
                for t in burst:
                    t.join()
                requests += len(burst)
            elif action < 0.85:
                active = list(Operation.objects.filter(tenant=tenant, status__in=ACTIVE_STATUSES))
                if active:
                    operation_request_cancel(operation=rng.choice(active), actor="soak")
            elif time.monotonic() - last_kill > 20:
                # Kill the cluster whose worker runs an operation (its STARTED event names
                # the worker's pid), so that the kill interrupts work.
                sig = signal.SIGKILL if rng.random() < 0.5 else signal.SIGTERM
                running = list(Operation.objects.filter(tenant=tenant, status="RUNNING"))
                victim = None
                for op in rng.sample(running, len(running)):
                    start = op.events.filter(kind="STARTED").order_by("-created_at").first()
                    pid = int(start.message.rsplit("pid ", 1)[-1] or 0) if start else 0
                    try:
                        pgid = os.getpgid(pid)
                    except (ProcessLookupError, ValueError):
                        continue
                    matching = [i for i, p in enumerate(clusters.procs) if p.pid == pgid]
                    if matching:
                        victim = matching[0]
                        break
                if victim is not None:
                    last_kill = time.monotonic()
                    kills.append((time.time(), sig, {op.id for op in running}))
                    clusters.kill(victim, sig)
            time.sleep(rng.uniform(0.3, 1.2))
        chaos_s = time.monotonic() - started

        drain_deadline = time.monotonic() + stale + 180
        while Operation.objects.filter(tenant=tenant, status__in=ACTIVE_STATUSES).exists():
            if time.monotonic() > drain_deadline:
                break
            time.sleep(1)
    finally:
        clusters.stop()
        server.stop()
    connection.close()

    ops = Operation.objects.filter(tenant=tenant)
    stuck = list(ops.filter(status__in=ACTIVE_STATUSES).values_list("id", "status"))
    by_status: dict[str, int] = {}
    for status in ops.values_list("status", flat=True):
        by_status[status] = by_status.get(status, 0) + 1
    coalesced = OperationEvent.objects.filter(operation__tenant=tenant, kind="COALESCED").count()

    # kill → resumption: for each operation RUNNING at a kill that was handed back
    # afterwards, the first STARTED after the kill.
    resume_s, resumptions = [], 0
    from datetime import datetime
    from datetime import timezone as tz

    for at, sig, running in kills:
        at_dt = datetime.fromtimestamp(at, tz.utc)
        for op_id in running:
            events = list(
                OperationEvent.objects.filter(operation_id=op_id, created_at__gte=at_dt)
                .order_by("created_at").values_list("kind", "created_at")
            )
            lost = [t for k, t in events if k in ("WORKER_LOST", "WORKER_STOPPED")]
            if not lost:
                continue  # it was on the other cluster, or ended before the kill
            again = [t for k, t in events if k == "STARTED" and t > lost[0]]
            if again:
                resumptions += 1
                resume_s.append((again[0] - at_dt).total_seconds())
    cancel_s, dead_cancel_s = [], []  # live workers; workers killed meanwhile
    killed_ops = set().union(*(k[2] for k in kills)) if kills else set()
    for op in ops.filter(status="CANCELLED"):
        ev = {k: t for k, t in op.events.values_list("kind", "created_at")}
        into = dead_cancel_s if op.id in killed_ops else cancel_s
        if "CANCEL_REQUESTED" in ev and "CANCELLED" in ev:
            into.append((ev["CANCELLED"] - ev["CANCEL_REQUESTED"]).total_seconds())
        elif "CANCELLED" in ev:
            into.append(0.0)  # PENDING → CANCELLED at once

    broken: list[str] = []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT 1 FROM assets_app_chunk GROUP BY document_id, "
            "document_version, chunk_index HAVING count(*) > 1) d"
        )
        if cur.fetchone()[0]:
            broken.append("duplicate chunks")
    check = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "check_consistency"],
        cwd=BASE_DIR, env={**env, "RAGDESK_DB_NAME": connection.settings_dict["NAME"]},
        capture_output=True, text=True,
    )  # fmt: skip
    if "Unknown command" in check.stderr:
        consistency = "check_consistency: not available"
    else:
        consistency = f"check_consistency: exit {check.returncode}\n{check.stdout.strip()}"
        if check.returncode:
            broken.append("check_consistency")

    print(f"soak: {chaos_s:.0f} s of chaos, {args.clusters} clusters × {args.workers} workers, "
          f"stale after {stale} s, {len(assets)} assets")  # fmt: skip
    print(f"operations: {ops.count()} by status {dict(sorted(by_status.items()))}")
    print(f"refresh requests: {requests}, coalesced into a queued one: {coalesced}")
    print(f"kills: {len(kills)} (SIGKILL {sum(k[1] == signal.SIGKILL for k in kills)}, "
          f"SIGTERM {sum(k[1] == signal.SIGTERM for k in kills)}); resumptions: {resumptions}")  # fmt: skip
    if resume_s:
        print(f"kill → resumption s: median {statistics.median(resume_s):.1f}, "
              f"max {max(resume_s):.1f} (target ≤ 90)")  # fmt: skip
    if cancel_s:
        print(f"cancel → CANCELLED s (live workers): median {statistics.median(cancel_s):.2f}, "
              f"p99 {_pct(cancel_s, 0.99):.2f} (target ≤ 2), n={len(cancel_s)}")  # fmt: skip
    if dead_cancel_s:
        print(f"cancel → CANCELLED s of operations running at a kill: n={len(dead_cancel_s)}, "
              f"max {max(dead_cancel_s):.1f} (a killed worker's cancel waits for the reaper: "
              "15 s of silence)")  # fmt: skip
    print(consistency)
    print(f"stuck: {stuck or 'none'}")
    print(f"invariants broken: {broken or 'none'}")
    print(f"logs: {work / 'logs'}")
    return 1 if broken or stuck else 0


if __name__ == "__main__":
    sys.exit(main())
