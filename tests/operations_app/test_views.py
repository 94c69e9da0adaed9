"""The operations dashboard through Django's test client: the list page, its polled
``operation-rows`` fragment (200 while something is active, 286 once nothing is),
filters, and the Cancel button (htmx and plain form posts).

Operations are made through the lifecycle services with ``no_enqueue``, so nothing runs
unless a test moves it: ``operation_start`` makes it RUNNING, ``operation_finish``
ends it."""

from __future__ import annotations

import re

import pytest

from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import (
    operation_create,
    operation_finish,
    operation_request_cancel,
    operation_start,
)
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db

S = OperationStatus
HTMX = {"HX-Request": "true"}


def login(client, member):
    client.force_login(member.user)
    return client


def list_url(tenant, query=""):
    return f"/t/{tenant.slug}/operations/" + (f"?{query}" if query else "")


def cancel_url(op):
    return f"/t/{op.tenant.slug}/operations/{op.id}/cancel/"


def make_op(asset, status=S.PENDING, type=OperationType.REFRESH) -> Operation:
    """An operation of ``asset`` brought to ``status`` through the services."""
    op = operation_create(asset=asset, type=type, created_by="tester")
    if status == S.CANCELLED:
        return operation_request_cancel(operation=op, actor="tester")
    if status != S.PENDING:
        op = operation_start(operation_id=op.id)
        if status != S.RUNNING:
            op = operation_finish(operation_id=op.id, status=status)
    return op


def row_html(html: str, op) -> str:
    start = html.index(f'<tr id="operation-{op.id}"')
    return html[start : html.index("</tr>", start) + len("</tr>")]


def ops_header_cells(html: str) -> int:
    start = html.index('<table class="ops">')
    head = html[start : html.index("</thead>", start)]
    return len(re.findall(r"<th[ >]", head))


def cancel_form_fields(html: str, op) -> dict:
    """The hidden fields the row's Cancel form posts, as a browser would send them."""
    row = row_html(html, op)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', row))


@pytest.fixture
def asset(tenant, no_enqueue):
    return AssetFactory(tenant=tenant, display_name="Handbook")


# -- the list page and its polled fragment ------------------------------------------


def test_operations_page_renders_in_full(client, viewer_member, asset):
    op = make_op(asset)
    response = login(client, viewer_member).get(list_url(viewer_member.tenant))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert '<tbody id="operation-rows"' in html
    assert f'id="operation-{op.id}"' in html
    assert "Handbook" in html


def test_htmx_request_returns_only_the_rows_fragment(client, viewer_member, asset):
    make_op(asset, S.COMPLETED)
    response = login(client, viewer_member).get(
        list_url(viewer_member.tenant), headers=HTMX
    )
    html = response.content.decode().strip()
    assert html.startswith('<tbody id="operation-rows"')
    assert html.endswith("</tbody>")
    assert "<html" not in html
    assert "<h1>" not in html


@pytest.mark.parametrize("status", [S.PENDING, S.RUNNING])
def test_rows_keep_polling_while_an_operation_is_active(
    client, viewer_member, asset, status
):
    make_op(AssetFactory(tenant=asset.tenant), S.COMPLETED)
    make_op(asset, status)
    response = login(client, viewer_member).get(
        list_url(viewer_member.tenant), headers=HTMX
    )
    assert response.status_code == 200
    assert "HX-Trigger" not in response.headers
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert f'hx-get="/t/{asset.tenant.slug}/operations/?' in html


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_rows_stop_polling_with_286_when_nothing_is_active(
    client, viewer_member, asset, status
):
    make_op(asset, status)
    response = login(client, viewer_member).get(
        list_url(viewer_member.tenant), headers=HTMX
    )
    assert response.status_code == 286
    assert response.headers["HX-Trigger"] == "operations-settled"
    assert "hx-trigger" not in response.content.decode()


def test_rows_of_a_tenant_without_operations_stop_polling(client, viewer_member):
    response = login(client, viewer_member).get(
        list_url(viewer_member.tenant), headers=HTMX
    )
    assert response.status_code == 286
    assert "No operations yet." in response.content.decode()


def test_full_page_with_active_operation_starts_polling(client, viewer_member, asset):
    make_op(asset, S.RUNNING)
    html = (
        login(client, viewer_member)
        .get(list_url(viewer_member.tenant))
        .content.decode()
    )
    assert 'hx-trigger="every 1s"' in html


def test_polling_keeps_the_pages_filters(client, viewer_member, asset):
    make_op(asset, S.PENDING)
    html = (
        login(client, viewer_member)
        .get(
            list_url(viewer_member.tenant, f"asset={asset.id}&status=PENDING"),
            headers=HTMX,
        )
        .content.decode()
    )
    assert f"?asset={asset.id}&amp;status=PENDING" in html


def test_filter_by_status_lists_only_that_status(client, viewer_member, asset):
    done = make_op(AssetFactory(tenant=asset.tenant), S.COMPLETED)
    waiting = make_op(asset, S.PENDING)
    html = (
        login(client, viewer_member)
        .get(list_url(viewer_member.tenant, "status=COMPLETED"))
        .content.decode()
    )
    assert f'id="operation-{done.id}"' in html
    assert f'id="operation-{waiting.id}"' not in html


def test_filter_by_type_lists_only_that_type(client, viewer_member, asset):
    ingest = make_op(asset, S.COMPLETED, type=OperationType.INGEST)
    reindex = make_op(asset, S.PENDING, type=OperationType.REINDEX)
    html = (
        login(client, viewer_member)
        .get(list_url(viewer_member.tenant, "type=INGEST"))
        .content.decode()
    )
    assert f'id="operation-{ingest.id}"' in html
    assert f'id="operation-{reindex.id}"' not in html


def test_filter_by_asset_lists_only_that_assets_operations(
    client, viewer_member, asset
):
    mine = make_op(asset, S.PENDING)
    other = make_op(AssetFactory(tenant=asset.tenant, display_name="Other"), S.PENDING)
    html = (
        login(client, viewer_member)
        .get(list_url(viewer_member.tenant, f"asset={asset.id}"), headers=HTMX)
        .content.decode()
    )
    assert f'id="operation-{mine.id}"' in html
    assert f'id="operation-{other.id}"' not in html


def test_unknown_filter_values_are_ignored(client, viewer_member, asset):
    op = make_op(asset, S.PENDING)
    response = login(client, viewer_member).get(
        list_url(viewer_member.tenant, "status=BOGUS&type=NOPE&limit=abc")
    )
    assert response.status_code == 200
    assert f'id="operation-{op.id}"' in response.content.decode()


def test_rows_show_counters_and_the_error_message(client, viewer_member, asset):
    op = make_op(asset, S.RUNNING)
    operation_finish(
        operation_id=op.id, status=S.FAILED, error_message="source vanished"
    )
    html = (
        login(client, viewer_member)
        .get(list_url(viewer_member.tenant))
        .content.decode()
    )
    row = row_html(html, op)
    assert 'data-status="FAILED"' in row
    assert "source vanished" in row


# -- cancel -------------------------------------------------------------------------


def test_htmx_cancel_of_pending_operation_returns_cancelled_row_without_button(
    client, editor_member, asset
):
    op = make_op(asset, S.PENDING)
    response = login(client, editor_member).post(cancel_url(op), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="operation-{op.id}"')
    assert 'data-status="CANCELLED"' in html
    assert "Cancel</button>" not in html
    op.refresh_from_db()
    assert op.status == S.CANCELLED


def test_htmx_cancel_of_running_operation_shows_cancelling(
    client, editor_member, asset
):
    op = make_op(asset, S.RUNNING)
    response = login(client, editor_member).post(cancel_url(op), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cancelling" in html
    assert "Cancel</button>" not in html
    op.refresh_from_db()
    assert op.status == S.RUNNING
    assert op.cancel_requested is True


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_htmx_cancel_of_terminal_operation_returns_it_unchanged(
    client, editor_member, asset, status
):
    op = make_op(asset, status)
    before = Operation.objects.values().get(pk=op.pk)
    response = login(client, editor_member).post(cancel_url(op), headers=HTMX)
    assert response.status_code == 200
    assert f'data-status="{status}"' in response.content.decode()
    assert Operation.objects.values().get(pk=op.pk) == before


def test_plain_form_cancel_redirects_back_to_the_page(client, editor_member, asset):
    op = make_op(asset, S.PENDING)
    back = f"/t/{asset.tenant.slug}/assets/{asset.id}/"
    response = login(client, editor_member).post(cancel_url(op), {"next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    op.refresh_from_db()
    assert op.status == S.CANCELLED


def test_plain_form_cancel_never_redirects_off_site(client, editor_member, asset):
    op = make_op(asset, S.PENDING)
    response = login(client, editor_member).post(
        cancel_url(op), {"next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == list_url(asset.tenant)


def test_cancel_by_get_is_405(client, editor_member, asset):
    op = make_op(asset, S.PENDING)
    response = login(client, editor_member).get(cancel_url(op))
    assert response.status_code == 405
    op.refresh_from_db()
    assert op.status == S.PENDING


def test_htmx_cancel_by_viewer_is_refused_with_message_in_the_row(
    client, viewer_member, asset
):
    op = make_op(asset, S.PENDING)
    response = login(client, viewer_member).post(cancel_url(op), headers=HTMX)
    html = response.content.decode()
    assert "cannot cancel operations" in html
    assert 'data-status="PENDING"' in html
    op.refresh_from_db()
    assert (op.status, op.cancel_requested) == (S.PENDING, False)


def test_plain_form_cancel_by_viewer_is_refused_with_message(
    client, viewer_member, asset
):
    op = make_op(asset, S.RUNNING)
    response = login(client, viewer_member).post(cancel_url(op), follow=True)
    assert "cannot cancel operations" in response.content.decode()
    op.refresh_from_db()
    assert (op.status, op.cancel_requested) == (S.RUNNING, False)


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_terminal_operations_render_no_cancel_button(
    client, editor_member, asset, status
):
    op = make_op(asset, status)
    html = (
        login(client, editor_member)
        .get(list_url(editor_member.tenant))
        .content.decode()
    )
    assert "Cancel</button>" not in row_html(html, op)


@pytest.mark.parametrize("status", [S.PENDING, S.RUNNING])
def test_active_operations_render_a_cancel_button(client, editor_member, asset, status):
    op = make_op(asset, status)
    html = (
        login(client, editor_member)
        .get(list_url(editor_member.tenant))
        .content.decode()
    )
    row = row_html(html, op)
    assert "Cancel</button>" in row
    assert f'hx-post="{cancel_url(op)}"' in row
    assert f'hx-target="#operation-{op.id}"' in row


@pytest.mark.parametrize(
    "page", ["list", "asset-list", "asset-detail", "operations-of-asset"]
)
def test_cancelled_row_has_the_same_columns_as_the_table_it_replaces_a_row_of(
    client, editor_member, asset, page
):
    op = make_op(asset, S.PENDING)
    tenant = asset.tenant
    url = {
        "list": list_url(tenant),
        "asset-list": f"/t/{tenant.slug}/",
        "asset-detail": f"/t/{tenant.slug}/assets/{asset.id}/",
        "operations-of-asset": list_url(tenant, f"asset={asset.id}"),
    }[page]
    html = login(client, editor_member).get(url).content.decode()
    header_cells = ops_header_cells(html)
    assert row_html(html, op).count("<td") == header_cells

    fragment = client.post(
        cancel_url(op), cancel_form_fields(html, op), headers=HTMX
    ).content.decode()
    assert 'data-status="CANCELLED"' in fragment
    assert fragment.count("<td") == header_cells


@pytest.mark.parametrize(
    "query",
    ["status=%00", "type=%00", "status=RUNNING%00", "limit=%00", "limit=%C2%B2"],
)
def test_odd_filter_values_are_ignored_not_an_error(
    client, viewer_member, asset, query
):
    op = make_op(asset, S.PENDING)
    response = login(client, viewer_member).get(list_url(viewer_member.tenant, query))
    assert response.status_code == 200
    assert f'id="operation-{op.id}"' in response.content.decode()


def test_asset_filter_with_a_nul_character_is_404(client, viewer_member, asset):
    response = login(client, viewer_member).get(
        list_url(viewer_member.tenant, "asset=%00")
    )
    assert response.status_code == 404


def test_polled_rows_cost_the_same_queries_for_few_and_many_operations(
    client, viewer_member, no_enqueue
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, viewer_member)

    def poll_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(list_url(viewer_member.tenant), HTTP_HX_REQUEST="true")
        assert response.status_code in (200, 286)
        return len(queries)

    for _ in range(2):
        make_op(AssetFactory(tenant=viewer_member.tenant), status=S.COMPLETED)
    few = poll_queries()
    for _ in range(6):
        make_op(AssetFactory(tenant=viewer_member.tenant), status=S.COMPLETED)
    assert poll_queries() == few  # prices of the rows' costs load in one query
