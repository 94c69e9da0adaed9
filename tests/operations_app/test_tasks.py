"""Operations run by a real ``qcluster`` process (django-q2, ORM broker on the test
database) while the test cancels them through ``operation_request_cancel``, as the
API and dashboard do. Embeddings come from the built-in embedder or from a real local
OpenAI-compatible HTTP server (tests/embedding_server.py) with a latency that grows
with the batch, like a real provider's.

API.md "Cancel semantics": PENDING → CANCELLED at once; RUNNING → the worker stops at
its next check and ends CANCELLED (the issue: within 2 s, also mid-way through a
500-page PDF); what was stored stays searchable and is counted.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db.models import Max, Sum
from django_q.models import Task
from pgvector.django import CosineDistance

from assets_app.models import Chunk, Document, DocumentStatus, ModelPrice
from assets_app.services import asset_create_from_uploads, asset_refresh
from operations_app.models import Operation, OperationStatus
from operations_app.services import operation_request_cancel
from tests.conftest import upload
from tests.embedding_server import vector_for

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

S = OperationStatus
CANCEL_BOUND_S = 2.0  # the bound from pressing Cancel to CANCELLED
OPENAI = {
    "embedding_provider": "openai",
    "embedding_model": "text-embedding-3-small",  # seeded by assets_app 0003
    "embedding_dimensions": 1536,
}
WORDS = (
    "tenant asset chunk embedding vector index cursor webhook budget refresh search "
    "document operation cancel worker cluster batch token model price latency page "
    "heading section paragraph source folder upload hybrid ranking fusion recall"
).split()


# -- inputs -------------------------------------------------------------------------
def prose(*, seed: int, paragraphs: int) -> str:
    """Deterministic paragraphs of 40–160 words separated by blank lines."""
    rnd = random.Random(seed)
    return "\n\n".join(
        f"Paragraph {i} of text {seed}. "
        + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(40, 160)))
        + "."
        for i in range(paragraphs)
    )


def pdf_bytes(pages: int, *, seed: int = 7) -> bytes:
    """A text PDF of ``pages`` pages of about 450 words (≈ 2 chunks of 512 tokens)."""
    import textwrap

    from fpdf import FPDF

    rnd = random.Random(seed)
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=9)
    for number in range(1, pages + 1):
        pdf.add_page()
        text = f"Page {number}. " + " ".join(rnd.choice(WORDS) for _ in range(450))
        for i, line in enumerate(textwrap.wrap(text, 100)):
            pdf.text(10, 10 + 4.5 * i, line)
    return bytes(pdf.output())


@pytest.fixture(scope="module")
def pdf_500_pages() -> bytes:
    return pdf_bytes(500)


@pytest.fixture
def openai_price() -> ModelPrice:
    """text-embedding-3-small's price row as migration 0003 seeds it. Made here too:
    serialized_rollback restores seeds only while the connection keeps its serialized
    copy, and a transactional test's flush deletes them."""
    price, _ = ModelPrice.objects.update_or_create(
        provider="openai",
        model="text-embedding-3-small",
        defaults={
            "dimensions": 1536,
            "max_input_tokens": 8191,
            "price_per_million_tokens": Decimal("0.02"),
        },
    )
    return price


# -- waiting and cancelling ------------------------------------------------------------
def wait_until(predicate, *, timeout: float, what: str, cluster=None, interval=0.02):
    """Poll ``predicate`` until it returns a truthy value; return it. Fails the test
    with the cluster's log after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    log = f"\n--- qcluster log ---\n{cluster.log()[-4000:]}" if cluster else ""
    pytest.fail(f"Timed out after {timeout} s waiting for {what}.{log}")


def wait_status(op: Operation, statuses, *, timeout: float, cluster) -> Operation:
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)

    def reached():
        op.refresh_from_db()
        return op.status in statuses

    wait_until(
        reached,
        timeout=timeout,
        cluster=cluster,
        what=f"operation {op.id} to reach {sorted(statuses)} (is {op.status})",
    )
    return op


def cancel_and_wait(op: Operation, *, actor: str, cluster) -> tuple[float, Operation]:
    """Cancel through the service and poll (every 20 ms) until the operation is
    terminal. Returns (seconds from the cancel call to CANCELLED seen, operation)."""
    started = time.monotonic()
    signalled = operation_request_cancel(operation=op, actor=actor)
    assert signalled.cancel_requested
    wait_status(op, {S.CANCELLED, S.COMPLETED, S.FAILED}, timeout=30, cluster=cluster)
    return time.monotonic() - started, op


def worker_result(op: Operation, *, cluster, timeout: float = 30) -> str:
    """Wait until the worker's task for ``op`` has returned; its result (e.g.
    ``"CANCELLED"``). After this nothing of that run can still write."""
    task = wait_until(
        lambda: (
            Task.objects.filter(name=f"operation-{op.id}").order_by("started").last()
        ),
        timeout=timeout,
        cluster=cluster,
        what=f"the worker's task for {op.id} to end",
    )
    return task.result


def event_time(op: Operation, kind: str):
    return op.events.get(kind=kind).created_at


def record_latency(request, label: str, seconds: float, op: Operation) -> None:
    """Print measured latencies (shown with ``-s`` or in the report of a failure)."""
    worker = event_time(op, "CANCELLED") - event_time(op, "CANCEL_REQUESTED")
    line = (
        f"[cancel latency] {label}: {seconds * 1000:.0f} ms seen by the caller, "
        f"{worker.total_seconds() * 1000:.0f} ms CANCEL_REQUESTED→CANCELLED events"
    )
    print(line)
    request.node.user_properties.append(("cancel_latency_ms", round(seconds * 1000)))


def create_asset(actor, files, **embedding):
    return asset_create_from_uploads(
        actor=actor, display_name="Cluster test", files=files, **embedding
    )


# -- tests ---------------------------------------------------------------------------
def test_cancel_of_running_ingest_with_a_batch_in_flight_ends_cancelled_within_2_s(
    qcluster, embedding_server, editor_member, request
):
    # A slow provider: 0.15 s + 30 ms a chunk, ~2.1 s for a request of 64 chunks.
    embedding_server.delay, embedding_server.delay_per_input = 0.15, 0.03
    files = [upload(f"doc{i}.txt", prose(seed=i, paragraphs=600)) for i in range(3)]
    asset, op = create_asset(editor_member, files, **OPENAI)
    wait_status(op, S.RUNNING, timeout=60, cluster=qcluster)
    # Cancel just after the worker sent a batch that takes the server ≥ 0.6 s to
    # answer (the worst case: the worker must wait for it), once some are stored.
    n = 3
    while (
        embedding_server.latency_of(
            in_flight := embedding_server.wait_for_request(n, timeout=60)
        )
        < 0.6
    ):
        n += 1
    assert in_flight.finished_at is None, "the request should still be in flight"

    latency, op = cancel_and_wait(op, actor="eddie", cluster=qcluster)
    record_latency(request, "batch in flight", latency, op)

    assert op.status == S.CANCELLED and op.done and op.completed_at is not None
    assert latency < CANCEL_BOUND_S
    assert worker_result(op, cluster=qcluster) == S.CANCELLED
    cancelled_at = event_time(op, "CANCELLED")
    requests = embedding_server.snapshot()
    # The worker checks before each batch: no request after it saw the cancel.
    assert all(r.started_at <= cancelled_at.timestamp() for r in requests)

    stored = Chunk.objects.filter(asset=asset)
    assert stored.count() == op.chunk_count > 0
    assert op.items_processed < op.items_total == 3, "it was stopped mid-way"
    # Stored chunks are exactly the batches committed: every request but (usually)
    # the one in flight, whose batch was rolled back. Billed tokens match the same
    # requests, so counters equal what is stored.
    prefixes = {
        k: (
            sum(r.inputs for r in requests[:k]),
            sum(r.total_tokens for r in requests[:k]),
        )
        for k in (len(requests) - 1, len(requests))
    }
    assert (op.chunk_count, op.token_count) in prefixes.values(), (
        prefixes,
        op.chunk_count,
    )
    assert not stored.filter(created_at__gt=cancelled_at).exists()
    assert set(stored.values_list("operation_id", flat=True)) == {op.id}
    docs = Document.objects.filter(asset=asset)
    assert docs.aggregate(n=Sum("chunk_count"))["n"] == op.chunk_count
    interrupted = docs.filter(status=DocumentStatus.PENDING)
    assert interrupted.count() == 1 and "Interrupted" in interrupted.get().error_message
    assert docs.filter(status=DocumentStatus.COMPLETED).count() == op.items_processed

    # What was stored stays searchable: by vector (cosine) and by full text.
    probe = stored.order_by("created_at").first()
    nearest = stored.order_by(
        CosineDistance("embedding", vector_for(probe.content, 1536))
    ).first()
    assert nearest.pk == probe.pk
    assert stored.filter(search_vector=SearchQuery("webhook")).exists()
    # Nothing arrives late: the worker's task has returned, counts are final.
    assert Chunk.objects.filter(asset=asset).count() == op.chunk_count
    assert len(embedding_server.snapshot()) == len(requests)


def test_cancel_in_the_middle_of_a_500_page_pdf_ends_cancelled_within_2_s(
    qcluster, editor_member, pdf_500_pages, request
):
    asset, op = create_asset(editor_member, [upload("manual.pdf", pdf_500_pages)])
    wait_status(op, S.RUNNING, timeout=60, cluster=qcluster)

    def page_reached():
        page = Chunk.objects.filter(asset=asset).aggregate(p=Max("page_number"))["p"]
        return page is not None and page >= 60

    wait_until(page_reached, timeout=60, cluster=qcluster, what="chunks of page 60")

    latency, op = cancel_and_wait(op, actor="eddie", cluster=qcluster)
    record_latency(request, "500-page PDF", latency, op)

    assert op.status == S.CANCELLED
    assert latency < CANCEL_BOUND_S
    assert worker_result(op, cluster=qcluster) == S.CANCELLED
    stored = Chunk.objects.filter(asset=asset)
    document = Document.objects.get(asset=asset)
    last_page = stored.aggregate(p=Max("page_number"))["p"]
    assert 60 <= last_page < 500, "stopped in the middle of the PDF"
    assert stored.count() == op.chunk_count == document.chunk_count > 0
    # The built-in embedder bills cl100k_base tokens, the chunks' own counts.
    assert op.token_count == stored.aggregate(t=Sum("token_count"))["t"]
    assert document.status == DocumentStatus.PENDING and document.content_hash == ""
    assert op.items_processed == 0 and op.items_total == 1
    assert not stored.filter(created_at__gt=event_time(op, "CANCELLED")).exists()
    # Page numbers are contiguous from page 1: whole batches, in order.
    pages = set(stored.values_list("page_number", flat=True))
    assert pages == set(range(1, last_page + 1))


def test_cancel_right_after_start_of_a_large_text_ends_cancelled_within_2_s(
    qcluster, editor_member, request
):
    # A fresh worker loads the tokenizer on first use, and one 4 MB section takes
    # seconds to split: neither may delay a cancel beyond the bound.
    big = prose(seed=42, paragraphs=6000)
    assert len(big) > 4_000_000
    asset, op = create_asset(editor_member, [upload("big.txt", big)])
    # The worker has listed the source (itemsTotal is set) and starts on the
    # document: its row is made with its first batch, after the split.
    wait_until(
        lambda: Operation.objects.filter(pk=op.pk, items_total=1).exists(),
        timeout=60,
        cluster=qcluster,
        what="the worker to start on the document",
    )

    latency, op = cancel_and_wait(op, actor="eddie", cluster=qcluster)
    record_latency(request, "large text at start", latency, op)

    assert op.status == S.CANCELLED
    assert latency < CANCEL_BOUND_S
    assert worker_result(op, cluster=qcluster) == S.CANCELLED
    stored = Chunk.objects.filter(asset=asset).count()
    assert stored == op.chunk_count and op.items_processed == 0
    # Interrupted, redone next time: PENDING with what was stored, or no row at all
    # when none of its chunks was (no orphan row).
    documents = list(Document.objects.filter(asset=asset))
    assert all(d.status == DocumentStatus.PENDING for d in documents)
    assert sum(d.chunk_count for d in documents) == stored
    assert documents or stored == 0


def test_cancel_of_pending_operation_is_immediate_and_the_worker_never_runs_it(
    qcluster, embedding_server, editor_member
):
    embedding_server.delay = 0.3  # the INGEST runs for a few seconds
    files = [upload(f"doc{i}.txt", prose(seed=i, paragraphs=40)) for i in range(2)]
    asset, ingest = create_asset(editor_member, files, **OPENAI)
    wait_status(ingest, S.RUNNING, timeout=60, cluster=qcluster)
    queued = asset_refresh(actor=editor_member, asset=asset, force=True)
    assert queued.status == S.PENDING, "queued behind the running INGEST"

    started = time.monotonic()
    returned = operation_request_cancel(operation=queued, actor="eddie")
    elapsed = time.monotonic() - started
    queued.refresh_from_db()

    assert returned.status == queued.status == S.CANCELLED
    assert queued.done and queued.completed_at is not None
    assert elapsed < 0.5, f"cancel of a PENDING operation took {elapsed:.3f} s"
    ingest.refresh_from_db()
    assert ingest.status == S.RUNNING, "the INGEST was still running during the cancel"

    wait_status(ingest, S.COMPLETED, timeout=120, cluster=qcluster)
    # The queue still works: a new refresh is its own operation and runs.
    later = asset_refresh(actor=editor_member, asset=asset)
    assert later.id != queued.id
    wait_status(later, S.COMPLETED, timeout=60, cluster=qcluster)
    assert later.documents_unchanged == 2

    queued.refresh_from_db()
    assert queued.status == S.CANCELLED and queued.started_at is None
    assert list(queued.events.values_list("kind", flat=True)) == [
        "CREATED",
        "CANCELLED",
    ]
    assert not Chunk.objects.filter(operation=queued).exists()
    ran = Task.objects.filter(name=f"operation-{queued.id}").values_list(
        "result", flat=True
    )
    assert set(ran) <= {"SKIPPED"}


def test_ingest_runs_to_completed_with_counters_equal_to_what_is_stored(
    qcluster, editor_member
):
    files = [
        upload("notes.txt", prose(seed=1, paragraphs=60)),
        upload("guide.md", "# Guide\n\n## Setup\n\n" + prose(seed=2, paragraphs=40)),
        upload(
            "page.html",
            "<html><body><h1>Page</h1>"
            + "".join(f"<p>{p}</p>" for p in prose(seed=3, paragraphs=30).split("\n\n"))
            + "</body></html>",
        ),
        upload("slides.pdf", pdf_bytes(12)),
    ]
    asset, op = create_asset(editor_member, files)
    wait_status(op, S.COMPLETED, timeout=120, cluster=qcluster)

    assert worker_result(op, cluster=qcluster) == S.COMPLETED
    stored = Chunk.objects.filter(asset=asset)
    docs = Document.objects.filter(asset=asset)
    assert stored.count() == op.chunk_count > 0
    assert docs.aggregate(n=Sum("chunk_count"))["n"] == op.chunk_count
    assert op.token_count == stored.aggregate(t=Sum("token_count"))["t"]
    assert op.items_processed == op.items_total == op.documents_added == 4
    assert op.documents_failed == 0 and not op.cancel_requested
    assert all(d.status == DocumentStatus.COMPLETED and d.content_hash for d in docs)
    assert op.started_at <= op.completed_at
    assert list(op.events.values_list("kind", flat=True)) == [
        "CREATED",
        "STARTED",
        "COMPLETED",
    ]


def test_openai_compatible_provider_bills_the_tokens_the_server_reports(
    qcluster, embedding_server, editor_member, openai_price
):
    files = [upload(f"doc{i}.md", prose(seed=10 + i, paragraphs=50)) for i in range(2)]
    asset, op = create_asset(editor_member, files, **OPENAI)
    wait_status(op, S.COMPLETED, timeout=120, cluster=qcluster)

    requests = embedding_server.snapshot()
    stored = Chunk.objects.filter(asset=asset)
    assert requests and all(
        r.model == "text-embedding-3-small" and r.dimensions == 1536 for r in requests
    )
    assert stored.count() == op.chunk_count == sum(r.inputs for r in requests)
    billed = sum(r.total_tokens for r in requests)
    ours = stored.aggregate(t=Sum("token_count"))["t"]
    assert billed != ours, (
        "the server must count differently for this test to mean much"
    )
    assert op.token_count == billed
    assert op.cost == billed * openai_price.price_per_million_tokens / 1_000_000
    assert {c.embedding_dimensions for c in stored} == {1536}
