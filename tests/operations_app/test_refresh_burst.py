"""A burst of refresh requests for one asset (issue 4: "50 refresh requests in a burst
for one asset → at most one running + one queued"). Threads, each with its own
database connection, call ``asset_refresh`` at once (and some go through the API)
while an operation of the asset is RUNNING. API.md "Refresh and concurrency": they
all join one queued operation, merging their ``documentIds``; one without
``documentIds`` means all documents."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.ingestion import ingestion_run
from assets_app.models import Document
from assets_app.services import asset_create_from_uploads, asset_refresh
from operations_app.models import Operation, OperationStatus
from operations_app.services import operation_finish, operation_start
from tests.conftest import upload

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
S = OperationStatus
BURST, THREADS, THROUGH_API = 50, 8, 6


@pytest.fixture
def running(editor_member, no_enqueue):
    """An asset of three documents whose INGEST ran, and a REFRESH now RUNNING."""
    asset, op = asset_create_from_uploads(
        actor=editor_member, display_name="Burst",
        files=[upload(f"{n}.txt", f"Text of {n}.") for n in ("a", "b", "c")],
    )  # fmt: skip
    ingestion_run(operation_id=no_enqueue.pop())
    first = asset_refresh(actor=editor_member, asset=asset)
    assert operation_start(operation_id=first.id).status == S.RUNNING
    no_enqueue.clear()  # its task: taken by the "worker" above
    ids = {d.file_name[0]: str(d.id) for d in Document.objects.filter(asset=asset)}
    return asset, first, ids


def burst(member, asset, bodies: list[dict]) -> list[str]:
    """Send each body as a refresh at once from THREADS threads: the first
    THROUGH_API through the API (with an Idempotency-Key each), the rest through
    ``asset_refresh``. Returns the operation id each got."""
    start = threading.Barrier(THREADS)
    token = RefreshToken.for_user(member.user).access_token
    url = f"/v1/tenants/{asset.tenant.slug}/assets/{asset.id}:refresh"

    def one(i: int, body: dict) -> str:
        if i < THREADS:
            start.wait()  # the first wave leaves together
        try:
            if i < THROUGH_API:
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
                response = client.post(
                    url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"burst-{i}"
                )
                assert response.status_code == 200, response.content
                return response.json()["operation"]["id"]
            op = asset_refresh(
                actor=member, asset=asset, document_ids=body.get("documentIds")
            )
            return str(op.id)
        finally:
            connection.close()  # each thread had its own connection

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(len(bodies)), bodies))


def test_50_refreshes_while_one_runs_leave_one_running_and_one_queued_with_a_union(
    running, editor_member, no_enqueue
):
    asset, first, ids = running
    bodies = [{"documentIds": [ids["a"] if i % 2 else ids["b"]]} for i in range(BURST)]
    got = burst(editor_member, asset, bodies)

    ops = Operation.objects.filter(asset=asset).exclude(type="INGEST")
    assert sorted(ops.values_list("status", flat=True)) == [S.PENDING, S.RUNNING]
    queued = ops.get(status=S.PENDING)
    assert set(got) == {str(queued.id)}, "every request got the one queued operation"
    assert queued.document_ids == sorted([ids["a"], ids["b"]])
    assert queued.events.filter(kind="CREATED").count() == 1
    assert queued.events.filter(kind="COALESCED").count() == BURST - 1
    assert no_enqueue == [], "a queued refresh waits for the running one"

    # When the running one ends the queued one runs: only a and b.
    operation_finish(operation_id=first.id, status=S.COMPLETED)
    assert no_enqueue == [str(queued.id)]
    assert ingestion_run(operation_id=no_enqueue.pop()) == S.COMPLETED
    queued.refresh_from_db()
    assert (queued.items_total, queued.documents_unchanged) == (2, 2)


def test_one_refresh_without_document_ids_in_the_burst_makes_the_queued_one_all(
    running, editor_member
):
    asset, first, ids = running
    bodies = [{"documentIds": [ids["a"]]}] * (BURST - 1)
    bodies.insert(BURST // 2, {})  # through asset_refresh, in the middle of the burst
    burst(editor_member, asset, bodies)
    ops = Operation.objects.filter(asset=asset).exclude(type="INGEST")
    assert ops.filter(status=S.RUNNING).count() == 1
    (queued,) = ops.filter(status=S.PENDING)
    assert queued.document_ids is None, "one request for all documents wins"
