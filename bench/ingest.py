"""Ingestion benchmark: end-to-end throughput against a raw COPY of the same rows.

    .venv/bin/python bench/ingest.py [--docs 2000] [--kb-per-doc 2.5] [--workers N]

1. Generates a deterministic corpus of Markdown and plain-text files (prose with
   headings, lists and code blocks) in a temporary folder: by default 2,000 documents,
   5 MB of text (kB and MB are decimal: 1,000 and 1,000,000 bytes).
2. Creates a folder asset over it with the built-in embedder, through
   ``asset_create_from_folder``, and lets a real ``manage.py qcluster`` subprocess run
   the INGEST operation. End-to-end time runs from just before the service call (which
   enqueues on commit) to the operation's ``completed_at``.
3. Reads the stored chunks back and times a raw psycopg binary ``COPY … FROM STDIN`` of
   the same rows into ``bench_chunk_copy``, a table identical to ``assets_app_chunk``
   (``LIKE … INCLUDING ALL``: the generated tsvector column, the GIN, HNSW-partial and
   unique indexes, plus the same foreign keys). A COPY into a bare table (no index, no
   key) is timed too, for information.

The ratio end-to-end / COPY is the end-to-end throughput divided by the COPY
throughput (= COPY seconds / end-to-end seconds); the target is ≥ 0.3.

Everything happens in its own database (``ragdesk_bench`` on the embedded server, or
``RAGDESK_BENCH_DB_NAME``), which is truncated at the start: the user's data is never
touched. It is not a test; it prints figures and exits 0 whether or not the target is
met (1 if the ingestion itself fails).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.3


# -- corpus -----------------------------------------------------------------------
_COMMON = (
    "the of and to a in is that for it as with on be by this are from or at an which "
    "can not have was will each when more one all they their into has but its also "
    "other than these only such may how use used two new time data first most some "
    "very any would there what about out up if so them then like over just where well "
    "because through after before between under while both same different without"
).split()
_DOMAIN = (
    "index query vector chunk embedding tenant document search latency throughput "
    "worker cluster queue batch cache replica shard schema migration token model "
    "operation refresh cancel source folder upload pipeline parser heading paragraph "
    "storage transaction commit lock retry timeout server client request response "
    "metric dashboard asset cost price network memory disk record field table column "
    "policy release version config service endpoint payload error status event"
).split()
_SYLLABLES = (
    "ka lo mi ren tor vas qui del ar en ul ost ix bra cle dro fen gal hes jun "
    "lim nor pav rus sel tam ver wyn zo ith ope ant ium ble ser cor dat ma"
).split()


class Corpus:
    """Deterministic prose-like text: Zipf-distributed words over a vocabulary of
    common English, domain terms and a long tail of invented words."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        tail = {
            "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 4)))
            for _ in range(6000)
        }
        self.vocab = _COMMON + _DOMAIN + sorted(tail - set(_COMMON) - set(_DOMAIN))
        total, self.cum = 0.0, []
        for rank in range(len(self.vocab)):
            total += 1.0 / (rank + 1) ** 1.07
            self.cum.append(total)

    def words(self, n: int) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.cum, k=n)

    def sentence(self, low: int = 6, high: int = 22) -> str:
        words = self.words(self.rng.randint(low, high))
        if len(words) > 9 and self.rng.random() < 0.4:
            words[self.rng.randint(3, len(words) - 4)] += ","
        end = "?" if self.rng.random() < 0.05 else "."
        return " ".join(words).capitalize() + end

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 6)))

    def title(self) -> str:
        return " ".join(self.words(self.rng.randint(2, 6))).capitalize()

    def markdown(self, size: int) -> str:
        parts = [f"# {self.title()}", self.paragraph()]
        while sum(len(p) + 2 for p in parts) < size:
            roll = self.rng.random()
            if roll < 0.2:
                parts.append(f"## {self.title()}")
            elif roll < 0.28:
                parts.append(f"### {self.title()}")
            elif roll < 0.38:
                n = self.rng.randint(3, 6)
                parts.append("\n".join(f"- {self.sentence(3, 10)}" for _ in range(n)))
            elif roll < 0.42:
                a, b = self.words(2)
                parts.append(f"```python\n{a}_{b} = load({b!r}, retries=3)\n```")
            parts.append(self.paragraph())
        return _trim("\n\n".join(parts), size)

    def plain(self, size: int) -> str:
        parts = [self.title().upper(), self.paragraph()]
        while sum(len(p) + 2 for p in parts) < size:
            if self.rng.random() < 0.15:
                parts.append(self.title().upper())
            parts.append(self.paragraph())
        return _trim("\n\n".join(parts), size)


def _trim(text: str, size: int) -> str:
    """Cut ``text`` at the sentence end nearest to ``size`` characters."""
    before, after = text.rfind(". ", 0, size), text.find(". ", size)
    if after != -1 and (before == -1 or after - size < size - before):
        before = after
    return (text[: before + 1] if before > 0 else text) + "\n"


def write_corpus(folder: Path, *, docs: int, kb_per_doc: float, seed: int) -> int:
    """Write ``docs`` files (3/4 Markdown) in 20 sub-folders; returns total bytes."""
    corpus = Corpus(seed)
    total = 0
    for i in range(docs):
        size = int(kb_per_doc * 1000 * corpus.rng.uniform(0.4, 1.6))
        markdown = corpus.rng.random() < 0.75
        text = corpus.markdown(size) if markdown else corpus.plain(size)
        path = (
            folder / f"part-{i % 20:02d}" / f"doc-{i:05d}.{'md' if markdown else 'txt'}"
        )
        path.parent.mkdir(exist_ok=True)
        data = text.encode()
        path.write_bytes(data)
        total += len(data)
    return total


# -- Django set-up ----------------------------------------------------------------
def setup_django(db_name: str, corpus_dir: Path) -> None:
    """Point the settings at the bench database and corpus, set Django up, migrate and
    empty the bench database (it is ours alone)."""
    if "bench" not in db_name:
        sys.exit(
            f"Refusing to truncate {db_name!r}: the bench database name must "
            "contain 'bench'."
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["RAGDESK_DB_NAME"] = db_name
    os.environ["RAGDESK_FOLDER_ROOTS"] = str(corpus_dir)
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    if "bench" not in connection.settings_dict["NAME"]:  # e.g. DATABASE_URL is set
        sys.exit(
            f"Refusing to truncate {connection.settings_dict['NAME']!r}: the "
            "bench database name must contain 'bench'."
        )
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_chunk_copy, bench_chunk_copy_bare")
        cursor.execute(
            "TRUNCATE assets_app_tenant, auth_user, django_q_ormq, django_q_task, "
            "django_q_schedule CASCADE"
        )


# -- end-to-end ---------------------------------------------------------------------
def start_cluster(log_path: Path, workers: int | None) -> subprocess.Popen:
    """Start ``manage.py qcluster`` and return once a warm-up task has run in it."""
    from django_q.tasks import async_task, result

    env = dict(os.environ)
    if workers:
        env["RAGDESK_WORKERS"] = str(workers)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops it
        )
    task_id = async_task("math.sqrt", 4.0, task_name="bench-warm-up")
    deadline = time.monotonic() + 60
    while result(task_id) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_cluster(proc)
            sys.exit(f"qcluster did not start; see {log_path}:\n{log_path.read_text()}")
        time.sleep(0.1)
    return proc


def stop_cluster(proc: subprocess.Popen) -> None:
    """SIGTERM (django-q2 stops its workers gracefully); SIGKILL to the cluster's
    process group after 60 s or on Ctrl-C while waiting."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def ingest(corpus_dir: Path, proc: subprocess.Popen, log_path: Path):
    """Create the folder asset, wait for its INGEST to end; returns (asset, operation,
    seconds from the service call to ``completed_at``)."""
    from django.contrib.auth import get_user_model

    from assets_app.models import Membership, Role, Tenant
    from assets_app.services import asset_create_from_folder
    from operations_app.models import Operation

    user = get_user_model().objects.create_user("bench-admin")
    tenant = Tenant.objects.create(slug="bench", name="Benchmark")
    actor = Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)

    started = time.time()
    asset, op = asset_create_from_folder(
        actor=actor, display_name="Benchmark corpus", path=str(corpus_dir)
    )
    shown = 0.0
    while not (op := Operation.objects.get(pk=op.pk)).done:
        if proc.poll() is not None:
            sys.exit(f"qcluster exited during the run; see {log_path}")
        if op.items_total and time.monotonic() - shown >= 5:
            shown = time.monotonic()
            print(
                f"  … {op.items_processed}/{op.items_total} documents, "
                f"{op.chunk_count} chunks",
                flush=True,
            )
        time.sleep(0.1)
    return asset, op, op.completed_at.timestamp() - started


# -- COPY ---------------------------------------------------------------------------
def copy_seconds(asset_id, *, identical: bool) -> tuple[int, float]:
    """Copy the asset's chunks into a fresh table with a raw binary COPY; returns
    (rows, seconds for COPY + commit). ``identical``: the table has every index,
    constraint and foreign key of ``assets_app_chunk``; else none."""
    import psycopg
    from django.conf import settings
    from pgvector.psycopg import register_vector

    db = settings.DATABASES["default"]
    table = "bench_chunk_copy" if identical else "bench_chunk_copy_bare"
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or None,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as conn:
        register_vector(conn)
        like = (
            "INCLUDING ALL" if identical else "INCLUDING DEFAULTS INCLUDING GENERATED"
        )
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE assets_app_chunk {like})")
        if identical:  # LIKE never copies foreign keys
            fks = conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'assets_app_chunk'::regclass AND contype = 'f'"
            ).fetchall()
            for (definition,) in fks:
                conn.execute(f"ALTER TABLE {table} ADD {definition}")
        columns = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'assets_app_chunk'::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
        ).fetchall()
        names = ", ".join(name for name, _ in columns)
        rows = (
            conn.cursor(binary=True)
            .execute(
                f"SELECT {names} FROM assets_app_chunk WHERE asset_id = %s",
                (asset_id,),
            )
            .fetchall()
        )
        conn.execute("CHECKPOINT")  # do not bill the COPY for earlier dirty pages
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([kind for _, kind in columns])
                for row in rows:
                    copy.write_row(row)
        seconds = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
    return len(rows), seconds


# -- main ---------------------------------------------------------------------------
def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="documents (2000)")
    parser.add_argument(
        "--kb-per-doc", type=float, default=2.5, help="mean document size in kB (2.5)"
    )
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (1)")
    parser.add_argument("--workers", type=int, help="qcluster workers (from settings)")
    parser.add_argument(
        "--keep-corpus", action="store_true", help="keep the generated folder"
    )
    args = parser.parse_args()

    db_name = os.environ.get("RAGDESK_BENCH_DB_NAME", "ragdesk_bench")
    corpus_dir = Path(tempfile.mkdtemp(prefix="ragdesk-bench-")).resolve()
    log_path = corpus_dir.parent / f"{corpus_dir.name}-qcluster.log"  # kept on failure
    wall = time.perf_counter()
    try:
        setup_django(db_name, corpus_dir)
        from django.conf import settings
        from django.db import connection

        from assets_app.models import Chunk, Document, DocumentStatus

        pg = connection.pg_version
        workers = args.workers or settings.Q_CLUSTER["workers"]
        print(
            f"ragdesk ingest benchmark: database {db_name}, settings "
            f"{os.environ['DJANGO_SETTINGS_MODULE']}, PostgreSQL {pg // 10000}."
            f"{pg % 10000}, {os.cpu_count()} CPUs, {workers} workers, embed batch "
            f"{settings.RAGDESK_EMBED_BATCH_SIZE}"
        )
        size = write_corpus(
            corpus_dir, docs=args.docs, kb_per_doc=args.kb_per_doc, seed=args.seed
        )
        print(f"corpus: {args.docs} documents, {size / 1e6:.2f} MB in {corpus_dir}")

        proc = start_cluster(log_path, args.workers)
        load_before = _load()
        try:
            asset, op, e2e = ingest(corpus_dir, proc, log_path)
        finally:
            load_after = _load()
            stop_cluster(proc)
        if op.status != "COMPLETED" or op.documents_failed:
            print(
                f"ingestion ended {op.status} with {op.documents_failed} failed "
                f"documents: {op.error_message}; see {log_path}"
            )
            return 1
        log_path.unlink(missing_ok=True)
        chunks = Chunk.objects.filter(asset=asset).count()
        docs = Document.objects.filter(
            asset=asset, status=DocumentStatus.COMPLETED
        ).count()
        if chunks != op.chunk_count or docs != args.docs:
            print(
                f"stored {docs} documents and {chunks} chunks; the operation "
                f"counted {op.items_processed} and {op.chunk_count}"
            )
            return 1

        _, copy_s = copy_seconds(asset.id, identical=True)
        _, bare_s = copy_seconds(asset.id, identical=False)
        ratio = copy_s / e2e
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        mb = size / 1e6
        print(f"""
documents                {docs:>10,}
text                     {mb:>10.2f} MB
chunks                   {chunks:>10,}
tokens (billed)          {op.token_count:>10,}
end-to-end               {e2e:>10.2f} s   (load average {load_before} → {load_after})
  documents/s            {docs / e2e:>10.1f}
  chunks/s               {chunks / e2e:>10.1f}
  MB/s                   {mb / e2e:>10.3f}
COPY, identical table    {copy_s:>10.2f} s   ({chunks / copy_s:,.0f} chunks/s)
COPY, bare table         {bare_s:>10.2f} s   ({chunks / bare_s:,.0f} chunks/s)
ratio end-to-end / COPY  {ratio:>10.2f}     target ≥ {TARGET_RATIO}: {verdict}
  vs bare COPY (info)    {bare_s / e2e:>10.2f}
bench run time           {time.perf_counter() - wall:>10.1f} s""")
        return 0
    except KeyboardInterrupt:
        log_path.unlink(missing_ok=True)
        raise
    finally:
        if args.keep_corpus:
            print(f"corpus kept in {corpus_dir}")
        else:
            shutil.rmtree(corpus_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted")
