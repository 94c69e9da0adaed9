"""Failed documents of an operation (issue 4): a document that cannot be read, parsed
or embedded is FAILED with its reason, the operation completes and counts it; the
API (``…/operations/{operation}/failedDocuments``) and the dashboard list it with the
reason; "Retry failed documents" (``…:retryFailedDocuments`` and a button) is a
refresh of only those documents."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.models import Document, UploadedFile
from assets_app.services import asset_create_from_uploads, asset_refresh
from operations_app.models import Operation, OperationDocumentFailure, OperationStatus
from tests.assets_app.test_parsing import pdf_bytes
from tests.conftest import upload

pytestmark = pytest.mark.django_db
S = OperationStatus
NO_TEXT = "no text layer"


def api(member) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(member.user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def failed(editor_member, run_queued):
    """An INGEST of good.txt, scan.pdf (no text layer) and broken.pdf (corrupt):
    COMPLETED with two documents failed."""
    asset, op = asset_create_from_uploads(
        actor=editor_member,
        display_name="Mixed",
        files=[
            upload("good.txt", "Readable text about apples."),
            upload("scan.pdf", pdf_bytes([None])),
            upload("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage"),
        ],
    )
    assert run_queued() == [S.COMPLETED]
    op.refresh_from_db()
    return asset, op


def url(op, suffix="/failedDocuments"):
    return (
        f"/v1/tenants/{op.tenant.slug}/assets/{op.asset_id}/operations/{op.id}{suffix}"
    )


def test_failures_are_recorded_with_the_operation_in_the_batch_that_counts_them(failed):
    asset, op = failed
    rows = OperationDocumentFailure.objects.filter(operation=op)
    assert op.documents_failed == rows.count() == 2
    for row in rows:
        assert row.document.status == "FAILED"
        assert row.error_message == row.document.error_message != ""
    assert {r.document.file_name for r in rows} == {"scan.pdf", "broken.pdf"}


def test_api_lists_the_failed_documents_of_an_operation_with_reasons(
    failed, viewer_member
):
    asset, op = failed
    response = api(viewer_member).get(url(op))
    assert response.status_code == 200
    body = response.json()
    assert body["totalCount"] == 2 and body["nextPageToken"] is None
    by_name = {item["fileName"]: item for item in body["items"]}
    scan = by_name["scan.pdf"]
    assert NO_TEXT in scan["errorMessage"]
    assert scan["documentStatus"] == "FAILED" and isinstance(scan["failedAt"], int)
    assert scan["documentId"] == str(Document.objects.get(file_name="scan.pdf").id)
    assert set(scan) == {
        "documentId", "fileName", "sourceUrl", "errorMessage", "failedAt",
        "documentStatus",
    }  # fmt: skip
    page = api(viewer_member).get(url(op) + "?pageSize=1").json()
    rest = api(viewer_member).get(url(op) + f"?pageToken={page['nextPageToken']}")
    assert [i["documentId"] for i in page["items"] + rest.json()["items"]] == [
        i["documentId"] for i in body["items"]
    ]


def test_an_operation_without_failures_lists_none(editor_member, run_queued):
    asset, op = asset_create_from_uploads(
        actor=editor_member, display_name="ok", files=[upload("a.txt", "Fine.")]
    )
    run_queued()
    response = api(editor_member).get(url(op))
    assert response.json() == {"items": [], "nextPageToken": None, "totalCount": 0}


def test_retry_refreshes_only_the_failed_documents_and_lists_new_failures(
    failed, editor_member, run_queued
):
    asset, op = failed
    UploadedFile.objects.filter(asset=asset, file_name="scan.pdf").update(
        data=pdf_bytes(["Now with text."])
    )
    response = api(editor_member).post(url(op, ":retryFailedDocuments"), {}, "json")
    assert response.status_code == 200, response.content
    retry = Operation.objects.get(pk=response.json()["operation"]["id"])
    failed_ids = sorted(
        str(i)
        for i in Document.objects.filter(status="FAILED").values_list("id", flat=True)
    )
    assert retry.type == "REFRESH" and retry.document_ids == failed_ids
    assert run_queued() == [S.COMPLETED]
    retry.refresh_from_db()
    assert (retry.items_total, retry.documents_updated, retry.documents_failed) == (
        2, 1, 1,
    )  # fmt: skip
    assert Document.objects.get(file_name="scan.pdf").status == "COMPLETED"
    # The first operation still lists both, the scan now COMPLETED; the retry lists one.
    first = {i["fileName"]: i for i in api(editor_member).get(url(op)).json()["items"]}
    assert first["scan.pdf"]["documentStatus"] == "COMPLETED"
    again = api(editor_member).get(url(retry)).json()["items"]
    assert [i["fileName"] for i in again] == ["broken.pdf"]


def test_retry_joins_a_queued_refresh_merging_its_documents(
    failed, editor_member, no_enqueue
):
    asset, op = failed
    running = asset_refresh(actor=editor_member, asset=asset)  # enqueued, not run
    Operation.objects.filter(pk=running.pk).update(status=S.RUNNING)
    good = str(Document.objects.get(file_name="good.txt").id)
    queued = asset_refresh(actor=editor_member, asset=asset, document_ids=[good])
    response = api(editor_member).post(url(op, ":retryFailedDocuments"))
    assert response.json()["operation"]["id"] == str(queued.id)
    queued.refresh_from_db()
    assert len(queued.document_ids) == 3 and good in queued.document_ids


def test_retry_with_nothing_still_failed_is_409_naming_the_operation(
    editor_member, run_queued
):
    asset, op = asset_create_from_uploads(
        actor=editor_member, display_name="ok", files=[upload("a.txt", "Fine.")]
    )
    run_queued()
    response = api(editor_member).post(url(op, ":retryFailedDocuments"))
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["operationId"] == str(op.id)
    assert Operation.objects.count() == 1


def test_retry_is_idempotent_with_a_key(failed, editor_member, no_enqueue):
    asset, op = failed
    client = api(editor_member)
    first = client.post(url(op, ":retryFailedDocuments"), HTTP_IDEMPOTENCY_KEY="k1")
    second = client.post(url(op, ":retryFailedDocuments"), HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json() == second.json() and second["Idempotent-Replayed"] == "true"
    assert Operation.objects.filter(type="REFRESH").count() == 1


def test_viewer_cannot_retry(failed, viewer_member):
    asset, op = failed
    response = api(viewer_member).post(url(op, ":retryFailedDocuments"))
    assert response.status_code == 403 and "VIEWER" in response.json()["detail"]
    assert Operation.objects.count() == 1


def test_retry_with_unknown_body_fields_is_400(failed, editor_member):
    asset, op = failed
    response = api(editor_member).post(
        url(op, ":retryFailedDocuments"), {"x": 1}, "json"
    )
    assert response.status_code == 400 and "x" in response.json()["errors"]


def test_get_on_retry_is_405(failed, editor_member):
    asset, op = failed
    assert api(editor_member).get(url(op, ":retryFailedDocuments")).status_code == 405


# -- the dashboard -------------------------------------------------------------------
def test_asset_page_lists_failed_documents_with_reasons_and_a_retry_button(
    client, failed, editor_member
):
    asset, op = failed
    client.force_login(editor_member.user)
    page = client.get(f"/t/{op.tenant.slug}/assets/{asset.id}/").content.decode()
    assert f'id="failed-documents-{op.id}"' in page
    assert "scan.pdf" in page and NO_TEXT in page and "broken.pdf" in page
    assert "Retry failed documents" in page


def test_viewer_sees_failed_documents_but_no_retry_button(
    client, failed, viewer_member
):
    asset, op = failed
    client.force_login(viewer_member.user)
    page = client.get(f"/t/{op.tenant.slug}/operations/").content.decode()
    assert "scan.pdf" in page and "Retry failed documents" not in page


def test_retry_button_queues_a_refresh_of_the_failed_documents(
    client, failed, editor_member, no_enqueue
):
    asset, op = failed
    client.force_login(editor_member.user)
    response = client.post(f"/t/{op.tenant.slug}/operations/{op.id}/retry-failed/")
    assert response.status_code == 302
    assert response["Location"] == f"/t/{op.tenant.slug}/assets/{asset.id}/"
    retry = Operation.objects.get(type="REFRESH")
    assert len(retry.document_ids) == 2


def test_dashboard_rows_load_failures_in_one_query(
    client, failed, editor_member, django_assert_max_num_queries
):
    from operations_app.selectors import operations_recent

    asset, op = failed
    tenant = op.tenant
    with django_assert_max_num_queries(3):  # operations, prices, failures
        ops = operations_recent(tenant=tenant, limit=10)
    assert [f.document.file_name for f in ops[0].failed_documents]
