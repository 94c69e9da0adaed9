"""API benchmark: server time and SQL queries of the operations list and detail.

    .venv/bin/python bench/api.py [--operations 100000] [--assets 50] [--requests 200]

1. Fills its own database with one tenant, a VIEWER member with a JWT (simplejwt's
   ``RefreshToken.for_user``), 50 assets and 100,000 operations whose ``created_at``
   are spread over about a year (one ``INSERT … SELECT generate_series``), then
   ``VACUUM ANALYZE`` as autovacuum would have done on a live database.
2. Times requests issued in-process through Django's test ``Client``: the whole
   middleware, authentication (JWT), per-token throttle, view, SQL and JSON rendering,
   without a network or a WSGI server. Cases (``pageSize=50`` unless said):
   the first page of ``GET /v1/tenants/{t}/operations``; a walk of 1,000 pages by
   ``nextPageToken``; one deep page repeated (the token at page 1,000, rows
   50,000–50,049, as the walk returned it); the last page (a token for row 99,950,
   encoded the way the API encodes it); the same two depths by ``PageToken.Skip``
   (offsets, for information: they are expected to be slower); ``GET`` one operation
   (a different, random one each time). The cases are interleaved, one request of
   each in turn, so that the machine's load weighs on them alike.
3. Counts SQL queries per request (``CaptureQueriesContext``) for ``pageSize`` 10, 50
   and 500, first and deep pages, and for the detail: the count must not depend on the
   page size.

Targets (issue 3): p99 of a list page ≤ 50 ms; deep pages no slower than the first
(deep keyset page p99 ≤ first page p99 × 1.2 + 1 ms, to allow for noise).

Everything happens in its own database (``ragdesk_bench_api`` on the embedded server,
or ``RAGDESK_BENCH_DB_NAME``; the name must contain ``bench``), which is emptied at the
start. The throttle rate is raised for the run (``RAGDESK_API_RATE``) — the bench sends
thousands of requests a minute — and the throttle's cache entry is cleared between
rounds, so its cost (a few cache queries) is measured but a growing history is not.
It is not a test: it prints figures and exits 0 whether or not the targets are met (1
if a request fails or a page is wrong).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 50.0
DEEP_PAGES = 1000


def setup_django(db_name: str) -> None:
    """Point the settings at the bench database, set Django up, migrate and empty it."""
    if "bench" not in db_name:
        sys.exit(f"Refusing to empty {db_name!r}: the name must contain 'bench'.")
    # DEBUG off, as in production (local settings log every query in DEBUG).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["RAGDESK_DB_NAME"] = db_name
    os.environ["RAGDESK_API_RATE"] = "1000000/min"
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    if "bench" not in connection.settings_dict["NAME"]:  # e.g. DATABASE_URL is set
        sys.exit(
            f"Refusing to empty {connection.settings_dict['NAME']!r}: the bench "
            "database name must contain 'bench'."
        )
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE assets_app_tenant, auth_user, django_q_ormq, django_q_task CASCADE"
        )


def seed(*, n_assets: int, n_operations: int):
    """The tenant, its VIEWER member's JWT, the assets and the operations; returns
    (tenant, access token, seconds to insert the operations)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from rest_framework_simplejwt.tokens import RefreshToken

    from assets_app.models import Asset, Membership, Role, SourceType, Tenant

    user = get_user_model().objects.create_user("bench-viewer")
    tenant = Tenant.objects.create(slug="bench", name="Benchmark")
    Membership.objects.create(user=user, tenant=tenant, role=Role.VIEWER)
    Asset.objects.bulk_create(
        Asset(
            tenant=tenant, display_name=f"Asset {i:02d}", source_type=SourceType.UPLOAD
        )
        for i in range(n_assets)
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # Every 7th operation shares its created_at with the next one, so the id
        # tie-break of the cursor is exercised; ~5 minutes between operations.
        cursor.execute(
            """
            WITH a AS (
                SELECT array_agg(id ORDER BY display_name) AS ids,
                       array_agg(display_name ORDER BY display_name) AS names
                FROM assets_app_asset WHERE tenant_id = %(tenant)s
            )
            INSERT INTO operations_app_operation (
                id, tenant_id, asset_id, asset_name, type, status, cancel_requested,
                force, items_total, items_processed, token_count, chunk_count,
                documents_added, documents_updated, documents_deleted,
                documents_unchanged, documents_failed, error_message, created_by,
                created_at, started_at, completed_at, heartbeat_at
            )
            SELECT gen_random_uuid(), %(tenant)s,
                   a.ids[1 + i %% %(assets)s], a.names[1 + i %% %(assets)s],
                   (ARRAY['INGEST','REFRESH','SCHEDULED_REFRESH','REINDEX',
                          'WEBHOOK_UPDATE'])[1 + (i / 3) %% 5],
                   CASE WHEN i %% 97 = 0 THEN 'FAILED'
                        WHEN i %% 89 = 0 THEN 'CANCELLED'
                        WHEN i < 20 THEN 'PENDING' ELSE 'COMPLETED' END,
                   false, false, 40, 40, 12000 + i %% 5000, 120, 3, 1, 0, 36, 0,
                   CASE WHEN i %% 97 = 0 THEN 'Embedding provider timed out.'
                        ELSE '' END,
                   'bench-admin', t.created, t.created + interval '2 seconds',
                   t.created + interval '40 seconds', t.created + interval '40 seconds'
            FROM a, generate_series(0, %(n)s - 1) AS i,
                 LATERAL (SELECT i - i %% 7 / 6 AS k) tie,
                 LATERAL (SELECT now() - tie.k * interval '5 minutes'
                                 - (tie.k %% 300) * interval '1 millisecond'
                          AS created) t
            """,
            {"tenant": tenant.id, "assets": n_assets, "n": n_operations},
        )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE operations_app_operation")
        cursor.execute("VACUUM ANALYZE assets_app_asset")
    token = str(RefreshToken.for_user(user).access_token)
    return tenant, token, seconds


def _p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class Runner:
    def __init__(self, token: str):
        from django.test import Client

        self.client = Client(
            HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}"
        )

    def get(self, url: str) -> tuple[dict, float]:
        """(JSON body, ms) of one GET; exits on a non-200."""
        started = time.perf_counter()
        response = self.client.get(url)
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            sys.exit(f"GET {url} → {response.status_code}: {response.content[:500]!r}")
        return response.json(), ms

    def cases(self, urls: dict[str, list[str]], *, warmup: int = 20) -> dict:
        """``{case: [ms, …]}`` of GET on each case's URLs, the cases interleaved
        (one request of each in turn) so that a change in the machine's load hits
        every case alike; after ``warmup`` untimed rounds. The throttle's history is
        cleared between rounds, untimed."""
        from django.core.cache import cache

        times = {name: [] for name in urls}
        rounds = len(next(iter(urls.values())))
        for i in range(-warmup, rounds):
            cache.clear()
            for name, case_urls in urls.items():
                ms = self.get(case_urls[i % rounds])[1]
                if i >= 0:
                    times[name].append(ms)
        return times

    def queries(self, url: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.get(url)  # not the first of its kind: no one-off lookups counted
        with CaptureQueriesContext(connection) as captured:
            self.get(url)
        return len(captured.captured_queries)


def token_at(tenant, offset: int, fields: list[str]) -> str:
    """The pageToken the API gives for the page starting at row ``offset`` of the
    unfiltered list: the ordering values of row ``offset - 1`` and the totalCount,
    signed for that list as config.pagination signs them."""
    from config.pagination import page_token
    from operations_app.selectors import operation_list

    listing = operation_list(tenant=tenant)
    row = listing.order_by(*fields)[offset - 1]
    return page_token(listing, fields, row, listing.count())


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="per case (200)")
    args = parser.parse_args()
    n, size = args.requests, 50

    wall = time.perf_counter()
    db_name = os.environ.get("RAGDESK_BENCH_DB_NAME", "ragdesk_bench_api")
    setup_django(db_name)
    from urllib.parse import quote

    from django.conf import settings
    from django.db import connection

    from operations_app.api import ORDER
    from operations_app.models import Operation

    pg = connection.pg_version
    print(
        f"ragdesk API benchmark: database {db_name}, settings "
        f"{os.environ['DJANGO_SETTINGS_MODULE']} (DEBUG {settings.DEBUG}), PostgreSQL "
        f"{pg // 10000}.{pg % 10000}, {os.cpu_count()} CPUs, load {_load()}\n"
        "server time = in-process Django test Client (full middleware, JWT auth, "
        "throttle, view, SQL, JSON; no network, no WSGI server)"
    )
    tenant, token, insert_s = seed(n_assets=args.assets, n_operations=args.operations)
    total = Operation.objects.filter(tenant=tenant).count()
    print(f"seeded {total:,} operations over {args.assets} assets in {insert_s:.1f} s")

    run = Runner(token)
    base = f"/v1/tenants/{tenant.slug}/operations"
    deep_offset = DEEP_PAGES * size
    last_offset = ((total - 1) // size) * size

    # The walk: 1,000 pages by nextPageToken; checks no row is missed or repeated.
    from django.core.cache import cache

    cache.clear()
    walk, seen, url, deep_token = [], [], f"{base}?pageSize={size}", None
    for _ in range(DEEP_PAGES + 1):
        body, ms = run.get(url)
        walk.append(ms)
        seen += [item["id"] for item in body["items"]]
        if len(seen) == deep_offset:
            deep_token = body["nextPageToken"]
        url = f"{base}?pageSize={size}&pageToken={quote(body['nextPageToken'])}"
    expected = [
        str(pk)
        for pk in Operation.objects.filter(tenant=tenant)
        .order_by(*ORDER)
        .values_list("id", flat=True)[: len(seen)]
    ]
    if seen != expected or deep_token != token_at(tenant, deep_offset, ORDER):
        print("the walk by nextPageToken did not return the rows in order")
        return 1
    last_token = token_at(tenant, last_offset, ORDER)

    def q(**params):
        return f"{base}?" + "&".join(f"{k}={quote(str(v))}" for k, v in params.items())

    import random

    rng = random.Random(1)
    sample = list(
        Operation.objects.filter(tenant=tenant).values_list("asset_id", "id")[:5000]
    )
    detail_urls = [
        f"/v1/tenants/{tenant.slug}/assets/{a}/operations/{o}"
        for a, o in rng.sample(sample, n)
    ]
    pages = {
        "first": q(pageSize=size),
        f"deep (row {deep_offset:,})": q(pageSize=size, pageToken=deep_token),
        f"last (row {last_offset:,})": q(pageSize=size, pageToken=last_token),
        f"Skip {deep_offset:,} (info)": q(
            pageSize=size, **{"PageToken.Skip": deep_offset}
        ),
        f"Skip {last_offset:,} (info)": q(
            pageSize=size, **{"PageToken.Skip": last_offset}
        ),
    }
    load_before = _load()
    results = {f"walk: {DEEP_PAGES + 1:,} pages by token": walk}
    urls = {f"list {name}": [url] * n for name, url in pages.items()}
    results |= run.cases(urls | {"GET one operation": detail_urls})
    load_after = _load()

    print(f"\n{'case (pageSize=50)':<34}{'requests':>9}{'median ms':>11}{'p99 ms':>9}")
    for name, times in results.items():
        print(
            f"{name:<34}{len(times):>9}{statistics.median(times):>11.2f}"
            f"{_p99(times):>9.2f}"
        )
    print(f"(load average {load_before} → {load_after})")

    print(f"\n{'SQL queries per request':<34}{'10':>6}{'50':>6}{'500':>6}")
    counts = {}
    for name, params in {
        "list, first page": {},
        "list, deep page (token)": {"pageToken": deep_token},
        "list, Skip": {"PageToken.Skip": deep_offset},
    }.items():
        counts[name] = [run.queries(q(pageSize=s, **params)) for s in (10, 50, 500)]
        print(f"{name:<34}" + "".join(f"{c:>6}" for c in counts[name]))
    detail_queries = run.queries(detail_urls[0])
    print(f"{'GET one operation':<34}{detail_queries:>6}")

    first = results["list first"]
    deep = results[f"list deep (row {deep_offset:,})"]
    last = results[f"list last (row {last_offset:,})"]
    worst = max(
        _p99(t)
        for k, t in results.items()
        if k.startswith(("list", "walk")) and "Skip" not in k
    )
    constant = all(len(set(c)) == 1 for c in counts.values())
    no_slower = max(_p99(deep), _p99(last)) <= _p99(first) * 1.2 + 1
    print(f"""
target p99 of a keyset list page ≤ {TARGET_P99_MS:.0f} ms  {worst:6.2f} ms   \
{"met" if worst <= TARGET_P99_MS else "NOT met"}
deep pages no slower than the first       {"met" if no_slower else "NOT met"} \
(p99 first {_p99(first):.2f}, deep {_p99(deep):.2f}, last {_p99(last):.2f} ms)
queries constant across page sizes        {"met" if constant else "NOT met"}
bench run time                            {time.perf_counter() - wall:.1f} s""")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted")
