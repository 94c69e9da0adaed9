"""config.pagination through the operations lists: pageTokens are signed for one
list (tenant, asset, filters) and carry the totalCount counted on the first page."""

from __future__ import annotations

import base64
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.pagination import _signer
from operations_app import selectors
from operations_app.api import ORDER
from operations_app.models import Operation
from operations_app.models import OperationStatus as S
from tests.factories import AssetFactory, OperationFactory
from tests.operations_app.test_api import (
    api,
    assert_problem,
    asset_ops_url,
    ids,
    make_ops,
    ops_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def asset(tenant):
    return AssetFactory(tenant=tenant)


def counts(ctx) -> int:
    return sum("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)


def test_later_pages_carry_the_total_counted_on_the_first_page(admin_member, asset):
    ops = [str(o.id) for o in make_ops(asset, 5)]
    client = api(admin_member)
    first = client.get(ops_url(asset.tenant, "pageSize=2")).json()
    assert first["totalCount"] == 5
    for _ in range(3):
        OperationFactory(asset=asset)  # newer than the cursor: not on later pages
    with CaptureQueriesContext(connection) as ctx:
        second = client.get(
            ops_url(asset.tenant, f"pageSize=2&pageToken={first['nextPageToken']}")
        ).json()
    assert ids(second) == ops[2:4] and second["totalCount"] == 5
    assert counts(ctx) == 0
    third = client.get(
        ops_url(asset.tenant, f"pageSize=2&pageToken={second['nextPageToken']}")
    ).json()
    assert ids(third) == ops[4:] and third["totalCount"] == 5
    assert client.get(ops_url(asset.tenant)).json()["totalCount"] == 8


def test_the_first_page_counts_and_a_page_holding_every_row_needs_no_count(
    admin_member, asset
):
    make_ops(asset, 3)
    client = api(admin_member)
    with CaptureQueriesContext(connection) as partial:
        body = client.get(ops_url(asset.tenant, "pageSize=2")).json()
    assert body["totalCount"] == 3 and counts(partial) == 1
    with CaptureQueriesContext(connection) as whole:
        body = client.get(ops_url(asset.tenant, "pageSize=3")).json()
    assert body["totalCount"] == 3 and counts(whole) == 0
    skipped = client.get(ops_url(asset.tenant, "PageToken.Skip=1")).json()
    assert skipped["totalCount"] == 3 and len(skipped["items"]) == 2
    beyond = client.get(ops_url(asset.tenant, "PageToken.Skip=9")).json()
    assert beyond["totalCount"] == 3 and beyond["items"] == []


def test_page_size_may_change_between_pages(admin_member, asset):
    ops = [str(o.id) for o in make_ops(asset, 5)]
    client = api(admin_member)
    first = client.get(ops_url(asset.tenant, "pageSize=1")).json()
    rest = client.get(
        ops_url(asset.tenant, f"PageSize=10&PageToken.Cursor={first['nextPageToken']}")
    ).json()
    assert ids(rest) == ops[1:] and rest["totalCount"] == 5


def test_a_token_of_the_asset_list_continues_the_same_rows_listed_by_asset_id(
    admin_member, asset
):
    ops = [str(o.id) for o in make_ops(asset, 3)]
    client = api(admin_member)
    first = client.get(asset_ops_url(asset, "pageSize=1")).json()
    query = f"assetId={asset.id}&pageToken={first['nextPageToken']}"
    assert ids(client.get(ops_url(asset.tenant, query)).json()) == ops[1:]


@pytest.mark.parametrize(
    "other",
    ["", "status=PENDING", "status=COMPLETED&type=INGEST", "type=REFRESH", "asset"],
)
def test_a_token_used_with_other_filters_is_400(admin_member, tenant, other):
    mine, theirs = AssetFactory(tenant=tenant), AssetFactory(tenant=tenant)
    make_ops(mine, 3, status=S.COMPLETED)
    make_ops(theirs, 3, status=S.COMPLETED)
    client = api(admin_member)
    issued_with = "status=COMPLETED"
    token = client.get(ops_url(tenant, f"pageSize=1&{issued_with}")).json()[
        "nextPageToken"
    ]
    other = f"assetId={mine.id}&{issued_with}" if other == "asset" else other
    body = assert_problem(
        client.get(ops_url(tenant, f"{other}&pageToken={token}")),
        400,
        "validation-failed",
    )
    assert set(body["errors"]) == {"pageToken"}
    same = client.get(ops_url(tenant, f"{issued_with}&pageToken={token}"))
    assert same.status_code == 200


def _tampered(token: str, change) -> str:
    payload, signature = token.rsplit(":", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(data)
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + ":" + signature


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _tampered(t, lambda d: d.update(n=10**6)),
        lambda t: _tampered(t, lambda d: d["k"].reverse()),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t.rsplit(":", 1)[0],
        lambda t: t + "x",
    ],
    ids=["count", "cursor", "signature", "unsigned", "appended"],
)
def test_a_tampered_token_is_400_problem(admin_member, asset, tamper):
    make_ops(asset, 3)
    client = api(admin_member)
    token = client.get(ops_url(asset.tenant, "pageSize=1")).json()["nextPageToken"]
    body = assert_problem(
        client.get(ops_url(asset.tenant, f"pageToken={tamper(token)}")),
        400,
        "validation-failed",
    )
    assert set(body["errors"]) == {"pageToken"}


@pytest.mark.parametrize(
    "payload",
    [
        {"k": ["x", "y"], "n": 1},
        {"k": ["2026-01-01T00:00:00+00:00", "not-a-uuid"], "n": 1},
        {"k": ["2026-01-01T00:00:00+00:00"], "n": 1},
        {"k": ["2026-01-01T00:00:00+00:00", "7d062e83-367e-4c2b-9f47-6a30dfd86598"]},
        {
            "k": ["2026-01-01T00:00:00+00:00", "7d062e83-367e-4c2b-9f47-6a30dfd86598"],
            "n": -1,
        },
        {"k": [1, 2], "n": 1},
        ["2026-01-01T00:00:00+00:00", "7d062e83-367e-4c2b-9f47-6a30dfd86598"],
    ],
)
def test_a_validly_signed_token_with_a_bad_cursor_is_400_not_500(
    admin_member, asset, payload
):
    """Were the key ever leaked, forged cursors still never reach the database."""
    make_ops(asset, 2)
    token = _signer(selectors.operation_list(tenant=asset.tenant), ORDER).sign_object(
        payload
    )
    body = assert_problem(
        api(admin_member).get(ops_url(asset.tenant, f"pageToken={token}")),
        400,
        "validation-failed",
    )
    assert set(body["errors"]) == {"pageToken"}


def test_skip_is_an_offset_in_the_list_order_even_among_tied_rows(admin_member, asset):
    """Skip finds the row before the page by its ordering values (created_at, id)
    and continues from there, which must equal an OFFSET."""
    ops = [OperationFactory(asset=asset) for _ in range(5)]
    Operation.objects.filter(pk__in=[o.pk for o in ops]).update(
        created_at=ops[0].created_at
    )
    OperationFactory(asset=asset)  # newest, alone at the top
    order = ids(api(admin_member).get(ops_url(asset.tenant)).json())
    client = api(admin_member)
    for skip in range(len(order) + 1):
        body = client.get(ops_url(asset.tenant, f"pageSize=2&PageToken.Skip={skip}"))
        body = body.json()
        assert ids(body) == order[skip : skip + 2], skip
        assert body["totalCount"] == 6
        assert (body["nextPageToken"] is None) == (skip + 2 >= len(order))


def test_a_token_is_bound_to_the_search_term_of_the_asset_list(admin_member, tenant):
    """The signature covers every filter of the list's queryset, also those that
    paginate is not told about, such as the assets' ``search``."""
    for name in ("alpha 1", "alpha 2", "alpha 3", "beta"):
        AssetFactory(tenant=tenant, display_name=name)
    client = api(admin_member)
    url = f"/v1/tenants/{tenant.slug}/assets"
    first = client.get(f"{url}?pageSize=1&search=alpha").json()
    assert first["totalCount"] == 3
    token = first["nextPageToken"]
    same = client.get(f"{url}?search=alpha&pageToken={token}").json()
    assert len(same["items"]) == 2 and same["totalCount"] == 3
    for other in ("search=alph", "search=beta", ""):
        response = client.get(f"{url}?{other}&pageToken={token}")
        assert_problem(response, 400, "validation-failed")
