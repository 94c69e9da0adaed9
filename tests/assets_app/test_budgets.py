"""Budgets (assets_app.budgets, budget_limits, usage) on real PostgreSQL: USD → tokens
in Decimal, UTC day and month boundaries (``now`` passed in), reservations that two
threads with their own connections cannot overshoot together, and an ingestion that
stops before the batch that would cross a limit, keeping what it stored."""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal

import pytest
from django.db import connection

from assets_app.budget_limits import asset_set_budget, budget_limits_from_input
from assets_app.budgets import (
    BudgetExhausted,
    budget_release,
    budget_reserve,
    budget_settle,
    budget_split,
    period_reset,
    period_start,
    usd_to_tokens,
)
from assets_app.models import BudgetReservation, BudgetUsage, Chunk, UsagePeriod
from assets_app.services import asset_create_from_uploads
from assets_app.usage import asset_budget, asset_usage, tenant_usage
from config.errors import ValidationFailed
from operations_app.models import Operation, OperationStatus
from tests.conftest import upload
from tests.factories import AssetFactory

P = UsagePeriod
UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def used(asset, period, start) -> tuple[int, int]:
    row = BudgetUsage.objects.get(asset=asset, period=period, start=start)
    return row.used, row.reserved


# -- USD → tokens --------------------------------------------------------------
def test_usd_converts_to_tokens_in_decimal_rounding_down():
    # In binary floats 0.39 × 1e6 / 0.13 is 2999999.9999999995, floored to one less.
    assert usd_to_tokens(Decimal("0.39"), Decimal("0.13")) == 3_000_000
    assert usd_to_tokens(Decimal("0.000001"), Decimal("0.02")) == 50
    assert usd_to_tokens(Decimal("1"), Decimal("0.3")) == 3_333_333


@pytest.mark.django_db
def test_currency_budget_is_stored_as_token_limits_with_the_model_price():
    limits = budget_limits_from_input(
        provider="openai", model="text-embedding-3-large", budget=None,
        currency_budget={"costBudget": Decimal("0.39"), "dailyCostBudget": None},
    )  # fmt: skip
    assert limits == {"token_budget": 3_000_000, "daily_token_budget": None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "budget", "currency", "path"),
    [
        ("hashed-lexical-384", None, {"costBudget": Decimal(1)},
         "currencyBudget.costBudget"),
        ("text-embedding-3-small", {"tokenBudget": 5}, {"costBudget": Decimal(1)},
         "currencyBudget.costBudget"),
        ("text-embedding-3-small", {"dailyTokenBudget": -1}, None,
         "budget.dailyTokenBudget"),
        ("text-embedding-3-small", None, {"monthlyCostBudget": Decimal(-1)},
         "currencyBudget.monthlyCostBudget"),
    ],
)  # fmt: skip
def test_budget_input_errors_name_the_member(model, budget, currency, path):
    provider = "builtin" if model.startswith("hashed") else "openai"
    with pytest.raises(ValidationFailed) as exc:
        budget_limits_from_input(
            provider=provider, model=model, budget=budget, currency_budget=currency
        )
    assert list(exc.value.errors) == [path]


# -- periods -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("billed", "parts", "shares"),
    [(10, 3, [4, 3, 3]), (2, 4, [1, 1, 0, 0]), (0, 2, [0, 0]), (7, 1, [7])],
)
def test_a_bill_splits_in_whole_tokens_that_add_up_to_it(billed, parts, shares):
    assert budget_split(billed, parts) == shares and sum(shares) == billed


def test_periods_are_utc_days_and_calendar_months():
    last_second = at(2026, 12, 31, 23, 59, 59)
    assert period_start(P.DAY, last_second) == dt.date(2026, 12, 31)
    assert period_start(P.MONTH, last_second) == dt.date(2026, 12, 1)
    assert period_reset(P.DAY, dt.date(2026, 12, 31)) == at(2027, 1, 1)
    assert period_reset(P.MONTH, dt.date(2026, 12, 1)) == at(2027, 1, 1)
    assert period_reset(P.MONTH, dt.date(2027, 2, 1)) == at(2027, 3, 1)
    assert period_reset(P.TOTAL, dt.date(1970, 1, 1)) is None
    berlin = dt.timezone(dt.timedelta(hours=1))  # 00:30 in Berlin is 23:30 UTC
    assert period_start(P.DAY, dt.datetime(2027, 1, 1, 0, 30, tzinfo=berlin)) == (
        dt.date(2026, 12, 31)
    )


@pytest.mark.django_db
def test_daily_limit_resets_at_utc_midnight_and_monthly_at_the_month():
    asset = AssetFactory(daily_token_budget=100, monthly_token_budget=150)
    night = at(2026, 11, 30, 23, 59, 59)
    budget_settle(budget_reserve(asset_id=asset.id, tokens=100, now=night), billed=100)
    with pytest.raises(BudgetExhausted) as exc:
        budget_reserve(asset_id=asset.id, tokens=1, now=night)
    assert exc.value.limit == "dailyTokenBudget"
    assert exc.value.resets_at == at(2026, 12, 1)
    assert exc.value.retry_after == 2  # 1 s to midnight, rounded up past it
    assert str(exc.value) == (
        "The daily token budget (dailyTokenBudget) is exhausted: 100 of 100 tokens "
        "used on 2026-11-30 (UTC); this batch needs 1 more. It resets at "
        "2026-12-01T00:00:00Z."
    )
    # A new UTC day and month: both limits start again.
    budget_settle(
        budget_reserve(asset_id=asset.id, tokens=100, now=at(2026, 12, 1)), billed=100
    )
    # Next day, same month: the day has room, the month (150) not.
    with pytest.raises(BudgetExhausted) as exc:
        budget_reserve(asset_id=asset.id, tokens=60, now=at(2026, 12, 2, 8))
    assert exc.value.limit == "monthlyTokenBudget"
    assert "used in 2026-12 (UTC)" in str(exc.value)
    assert exc.value.resets_at == at(2027, 1, 1)
    assert used(asset, P.TOTAL, dt.date(1970, 1, 1)) == (200, 0)


@pytest.mark.django_db
def test_failed_reservation_holds_nothing_and_release_gives_back():
    asset = AssetFactory(token_budget=100, daily_token_budget=50)
    now = at(2026, 11, 29, 12)
    with pytest.raises(BudgetExhausted):
        budget_reserve(asset_id=asset.id, tokens=60, now=now)
    held = budget_reserve(asset_id=asset.id, tokens=50, now=now)
    assert used(asset, P.TOTAL, dt.date(1970, 1, 1)) == (0, 50)  # all or none
    budget_release(held)
    budget_release(held)  # once only
    assert used(asset, P.DAY, now.date()) == (0, 0)
    assert not BudgetReservation.objects.exists()


@pytest.mark.django_db
def test_limit_changed_applies_to_the_next_reservation(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant)
    budget_settle(budget_reserve(asset_id=asset.id, tokens=500), billed=500)
    asset_set_budget(actor=editor_member, asset=asset, limits={"token_budget": 500})
    with pytest.raises(BudgetExhausted, match=r"500 of 500 tokens used in total"):
        budget_reserve(asset_id=asset.id, tokens=1)


@pytest.mark.django_db
def test_viewer_cannot_set_a_budget_and_non_vectorized_asset_has_none(
    viewer_member, editor_member
):
    from config.errors import PermissionDenied

    asset = AssetFactory(tenant=viewer_member.tenant)
    with pytest.raises(PermissionDenied):
        asset_set_budget(actor=viewer_member, asset=asset, limits={"token_budget": 1})
    flat = AssetFactory(tenant=editor_member.tenant, vectorized=False)
    with pytest.raises(ValidationFailed):
        asset_set_budget(actor=editor_member, asset=flat, limits={"token_budget": 1})
    assert asset_budget(flat) is None


# -- concurrency ---------------------------------------------------------------
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_reservations_on_own_connections_never_overshoot():
    """Four threads, each with its own PostgreSQL connection, reserve 70 tokens at a
    time against a daily limit of 1000 and settle after a pause (a batch in flight);
    together they get exactly 14 batches (980 tokens), never more."""
    asset = AssetFactory(daily_token_budget=1000)
    start = threading.Barrier(4)
    granted: list[int] = []

    def worker():
        try:
            start.wait()
            while True:
                try:
                    held = budget_reserve(asset_id=asset.id, tokens=70)
                except BudgetExhausted:
                    return
                granted.append(70)
                threading.Event().wait(0.005)
                budget_settle(held, billed=70)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    day = BudgetUsage.objects.get(asset=asset, period=P.DAY)
    assert (sum(granted), day.used, day.reserved) == (980, 980, 0)


# -- ingestion -----------------------------------------------------------------
TEXT = "\n\n".join(
    f"Paragraph {i} is about apples, orchards and the harvest of the year."
    for i in range(40)
)


@pytest.fixture
def small_batches(settings):
    settings.RAGDESK_EMBED_BATCH_SIZE = 2  # chunks: many batches from little text


@pytest.mark.django_db
def test_ingestion_stops_before_the_batch_that_would_cross_and_keeps_the_rest(
    admin_member, run_queued, small_batches
):
    asset, _ = asset_create_from_uploads(
        actor=admin_member, display_name="A",
        files=[upload("a.txt", TEXT), upload("b.txt", TEXT)],
        chunk_size=32, chunk_overlap=0,
    )  # fmt: skip
    asset_set_budget(actor=admin_member, asset=asset, limits={"token_budget": 300})
    assert run_queued() == [OperationStatus.FAILED]
    op = Operation.objects.get(asset=asset)
    assert re.fullmatch(
        r"The total token budget \(tokenBudget\) is exhausted: (\d+) of 300 tokens "
        r"used in total; this batch needs (\d+) more\. It does not reset; raise "
        r"tokenBudget to go on\.",
        op.error_message,
    ), op.error_message
    stored = sum(
        Chunk.objects.filter(asset=asset).values_list("token_count", flat=True)
    )
    assert 0 < stored <= 300
    total = BudgetUsage.objects.get(asset=asset, period=P.TOTAL)
    # The builtin embedder bills the cl100k count: usage equals what is stored.
    assert (total.used, total.reserved) == (op.token_count, 0) == (stored, 0)
    assert not BudgetReservation.objects.exists()
    usage = asset_usage(asset)
    assert usage["totalTokenCount"] == stored
    assert usage["daily"][-1]["tokens"] == stored and len(usage["daily"]) == 30
    assert tenant_usage(admin_member.tenant)["dailyTokens"] == stored


@pytest.mark.django_db
def test_ingestion_within_the_budget_completes_and_is_metered(admin_member, run_queued):
    asset, _ = asset_create_from_uploads(
        actor=admin_member, display_name="A", files=[upload("a.txt", TEXT)],
    )  # fmt: skip
    asset_set_budget(
        actor=admin_member, asset=asset, limits={"daily_token_budget": 10**6}
    )
    assert run_queued() == [OperationStatus.COMPLETED]
    op = Operation.objects.get(asset=asset)
    budget = asset_budget(asset)
    assert budget["dailyTokensUsed"] == budget["totalTokenCount"] == op.token_count > 0
    assert budget["dailyCostUsed"] == Decimal(0)  # the builtin model is free


@pytest.mark.django_db
def test_next_operation_releases_what_a_lost_worker_held(admin_member, run_queued):
    asset, _ = asset_create_from_uploads(
        actor=admin_member, display_name="A", files=[upload("a.txt", TEXT)]
    )
    asset_set_budget(actor=admin_member, asset=asset, limits={"token_budget": 10**4})
    lost = Operation.objects.get(asset=asset)
    # A worker that died mid-batch left 9,900 tokens reserved: without the release
    # the ingestion (about 600 tokens) would cross the limit.
    budget_reserve(asset_id=asset.id, tokens=9900, operation_id=lost.id)
    search = budget_reserve(asset_id=asset.id, tokens=5, periods=(P.DAY,))
    assert run_queued() == [OperationStatus.COMPLETED]
    lost.refresh_from_db()
    total = BudgetUsage.objects.get(asset=asset, period=P.TOTAL)
    assert (total.used, total.reserved) == (lost.token_count, 0)
    # A search in flight (seconds old) is not a lost one.
    assert list(BudgetReservation.objects.all()) == [search]
