"""Changing an asset's embedding model (API.md "PATCH semantics": a new
``embedding.provider`` / ``model`` starts a REINDEX): through PATCH, the settings
service and ``:estimate``; what is refused leaves the asset and the operations as
they were; a queued operation is joined; budget limits stay in tokens."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assets_app.embedding import provider_available
from assets_app.estimates import asset_estimate
from assets_app.models import Asset, Chunk, ModelPrice
from assets_app.services import asset_create_from_uploads, asset_update_settings
from config.errors import ValidationFailed
from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import operation_create, operation_start
from tests.assets_app.test_api import api, assert_problem, asset_url
from tests.conftest import upload
from tests.embedding_server import EmbeddingServer
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db

SMALL = {"provider": "openai", "model": "text-embedding-3-small"}  # 1536, 0.02 USD


def snapshot(asset: Asset) -> tuple:
    """What a refused change must leave as it was: the asset row and the
    operations table."""
    asset = Asset.objects.get(pk=asset.pk)
    row = {f.attname: getattr(asset, f.attname) for f in Asset._meta.fields}
    ops = list(Operation.objects.order_by("id").values())
    return row, ops


@pytest.fixture
def tiny_model():
    """A priced model whose input limit (100 tokens) is below the default chunk
    size (512)."""
    return ModelPrice.objects.create(
        provider="openai", model="tiny-embed", dimensions=256, max_input_tokens=100,
        price_per_million_tokens=Decimal("0.01"),
    )  # fmt: skip


def test_patch_of_the_model_starts_a_reindex_and_shows_the_new_model(
    editor_member, no_enqueue
):
    asset = AssetFactory(tenant=editor_member.tenant, chunk_size=512, chunk_overlap=64)
    response = api(editor_member).patch(
        asset_url(asset), {"embedding": SMALL}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    operation = body["operation"]
    assert (operation["type"], operation["status"]) == ("REINDEX", "PENDING")
    assert body["asset"]["embedding"] == {
        **SMALL, "dimensions": 1536, "chunkSize": 512, "chunkOverlap": 64,
    }  # fmt: skip
    # Search keeps answering from the index built with the old model until the
    # re-index completes (ingestion/switch.py).
    assert body["asset"]["indexEmbedding"] == {
        "provider": "builtin", "model": "hashed-lexical-384", "dimensions": 384,
        "chunkSize": 512, "chunkOverlap": 64,
    }  # fmt: skip
    assert body["asset"]["lastOperation"]["id"] == operation["id"]
    assert body["asset"]["budget"]["pricePerMillionTokens"] == 0.02
    assert no_enqueue == [operation["id"]]
    asset.refresh_from_db()
    assert (asset.embedding_provider, asset.embedding_model) == (
        "openai", "text-embedding-3-small",
    )  # fmt: skip
    assert asset.embedding_dimensions == 1536
    op = Operation.objects.get(pk=operation["id"])
    assert (op.embedding_provider, op.embedding_model, op.force) == (
        "openai", "text-embedding-3-small", True,
    )  # fmt: skip


def test_patch_of_model_and_chunking_together_starts_one_reindex(
    editor_member, no_enqueue, tiny_model
):
    asset = AssetFactory(tenant=editor_member.tenant, chunk_size=512, chunk_overlap=64)
    response = api(editor_member).patch(
        asset_url(asset),
        {"embedding": {"provider": "openai", "model": "tiny-embed", "dimensions": 256,
                       "chunkSize": 100, "chunkOverlap": 10}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["asset"]["embedding"] == {
        "provider": "openai", "model": "tiny-embed", "dimensions": 256,
        "chunkSize": 100, "chunkOverlap": 10,
    }  # fmt: skip
    assert Operation.objects.filter(type=OperationType.REINDEX).count() == 1
    assert len(no_enqueue) == 1


@pytest.mark.parametrize(
    ("embedding", "field"),
    [
        ({"provider": "openai", "model": "text-embedding-4"}, "embedding.model"),
        ({"provider": "openai"}, "embedding.model"),  # openai/hashed-lexical-384
        ({"model": "text-embedding-3-small"}, "embedding.model"),  # builtin/…
        ({**SMALL, "dimensions": 384}, "embedding.dimensions"),
        ({"dimensions": 1536}, "embedding.dimensions"),  # the asset's model's: 384
    ],
)
def test_patch_to_an_unknown_model_is_400_naming_it_and_changes_nothing(
    editor_member, no_enqueue, embedding, field
):
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Same")
    before = snapshot(asset)
    response = api(editor_member).patch(
        asset_url(asset),
        {
            "displayName": "Changed",
            "embedding": embedding,
            "budget": {"tokenBudget": 5},
        },
        format="json",
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert field in problem["errors"], problem
    assert snapshot(asset) == before and no_enqueue == []


def test_patch_to_a_model_whose_input_limit_is_below_the_chunk_size_is_400(
    editor_member, no_enqueue, tiny_model
):
    asset = AssetFactory(tenant=editor_member.tenant, chunk_size=512, chunk_overlap=64)
    before = snapshot(asset)
    response = api(editor_member).patch(
        asset_url(asset),
        {"embedding": {"provider": "openai", "model": "tiny-embed"}},
        format="json",
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert list(problem["errors"]) == ["embedding.chunkSize"]
    assert "100" in problem["errors"]["embedding.chunkSize"][0]
    assert snapshot(asset) == before and no_enqueue == []


@pytest.mark.skipif(
    provider_available("local"), reason="the local extra is installed here"
)
def test_patch_to_the_local_provider_without_its_extra_is_400(
    editor_member, no_enqueue
):
    asset = AssetFactory(tenant=editor_member.tenant, chunk_size=128, chunk_overlap=8)
    before = snapshot(asset)
    response = api(editor_member).patch(
        asset_url(asset),
        {"embedding": {"provider": "local", "model": "all-MiniLM-L6-v2"}},
        format="json",
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert "embedding.model" in problem["errors"]
    assert snapshot(asset) == before


def test_patch_of_the_model_by_a_viewer_is_403_and_changes_nothing(
    viewer_member, no_enqueue
):
    asset = AssetFactory(tenant=viewer_member.tenant)
    before = snapshot(asset)
    response = api(viewer_member).patch(
        asset_url(asset), {"embedding": SMALL}, format="json"
    )
    assert_problem(response, 403)
    assert snapshot(asset) == before and no_enqueue == []


def test_model_change_joins_the_queued_operation_and_turns_it_into_a_reindex(
    editor_member, no_enqueue
):
    asset = AssetFactory(tenant=editor_member.tenant)
    running = operation_create(asset=asset, type=OperationType.REFRESH, created_by="x")
    assert operation_start(operation_id=running.id).status == OperationStatus.RUNNING
    queued = operation_create(
        asset=asset, type=OperationType.REFRESH, created_by="x", document_ids=["d"]
    )
    response = api(editor_member).patch(
        asset_url(asset), {"embedding": SMALL}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["operation"]["id"] == str(queued.id)
    queued.refresh_from_db()
    assert (queued.type, queued.status, queued.force, queued.document_ids) == (
        OperationType.REINDEX, OperationStatus.PENDING, True, None,
    )  # fmt: skip
    assert queued.embedding_model == "text-embedding-3-small"
    assert Operation.objects.filter(asset=asset).count() == 2


def test_token_limits_stay_and_usd_converts_at_the_new_models_price(
    editor_member, no_enqueue
):
    asset = AssetFactory(
        tenant=editor_member.tenant, token_budget=1000, daily_token_budget=500
    )
    response = api(editor_member).patch(
        asset_url(asset),
        {"embedding": SMALL, "currencyBudget": {"dailyCostBudget": 1}},
        format="json",
    )
    assert response.status_code == 200, response.content
    asset.refresh_from_db()
    # 1 USD at 0.02 USD per 1M tokens (the builtin model's price is 0: no USD
    # limit could be converted with it at all).
    assert (asset.token_budget, asset.daily_token_budget) == (1000, 50_000_000)
    assert response.json()["asset"]["budget"]["costBudget"] == 0.00002


def test_patch_sending_back_the_embedding_it_read_starts_nothing(
    editor_member, no_enqueue
):
    asset = AssetFactory(tenant=editor_member.tenant)
    client = api(editor_member)
    read = client.get(asset_url(asset)).json()["embedding"]
    response = client.patch(asset_url(asset), {"embedding": read}, format="json")
    assert response.status_code == 200 and response.json()["operation"] is None


def test_dry_run_of_a_model_change_checks_and_saves_nothing(editor_member, no_enqueue):
    asset = AssetFactory(tenant=editor_member.tenant)
    before = snapshot(asset)
    asset_update_settings(
        actor=editor_member, asset=asset, dry_run=True, **_kwargs(SMALL)
    )
    assert snapshot(asset) == before
    with pytest.raises(ValidationFailed) as raised:
        asset_update_settings(
            actor=editor_member, asset=asset, dry_run=True,
            embedding_provider="openai", embedding_model="nope",
        )  # fmt: skip
    assert list(raised.value.errors) == ["embeddingModel"]


def _kwargs(embedding: dict) -> dict:
    return {"embedding_provider": embedding["provider"],
            "embedding_model": embedding["model"]}  # fmt: skip


def test_estimate_of_a_model_change_is_a_reindex_priced_with_the_new_model(
    editor_member, run_queued, admin_member
):
    asset, _ = asset_create_from_uploads(
        actor=admin_member, display_name="Notes", chunk_size=64, chunk_overlap=8,
        files=[upload("a.md", "Rivers and bridges. " * 200)],
    )  # fmt: skip
    assert run_queued() == [OperationStatus.COMPLETED]
    before = snapshot(asset)
    response = api(editor_member).post(
        asset_url(asset, ":estimate"),
        {"embedding": {"provider": "openai", "model": "text-embedding-3-large"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["reindex"], body["provider"], body["model"]) == (
        True, "openai", "text-embedding-3-large",
    )  # fmt: skip
    assert body["stats"]["documentsUpdated"] == 1 and body["tokenCount"] > 0
    assert body["pricePerMillionTokens"] == 0.13
    est = asset_estimate(
        actor=editor_member, asset=asset, embedding_provider="openai",
        embedding_model="text-embedding-3-large",
    )  # fmt: skip
    assert est.cost == Decimal(est.estimate.tokens) * Decimal("0.13") / 1_000_000
    assert snapshot(asset) == before
    unknown = api(editor_member).post(
        asset_url(asset, ":estimate"),
        {"embedding": {"provider": "openai", "model": "nope"}},
        format="json",
    )
    assert "embedding.model" in assert_problem(unknown, 400)["errors"]


def test_model_change_is_checked_against_the_asset_as_stored_not_a_stale_copy(
    editor_member, no_enqueue, tiny_model
):
    asset = AssetFactory(tenant=editor_member.tenant, chunk_size=80, chunk_overlap=8)
    stale = Asset.objects.get(pk=asset.pk)
    Asset.objects.filter(pk=asset.pk).update(chunk_size=512)  # someone else, since
    with pytest.raises(ValidationFailed) as raised:
        asset_update_settings(
            actor=editor_member, asset=stale,
            embedding_provider="openai", embedding_model="tiny-embed",
        )  # fmt: skip
    assert list(raised.value.errors) == ["chunkSize"]
    asset.refresh_from_db()
    assert (asset.embedding_model, asset.chunk_size) == ("hashed-lexical-384", 512)


def test_reindex_after_a_model_change_embeds_everything_with_the_new_model(
    editor_member, run_queued, monkeypatch
):
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="Notes", chunk_size=64, chunk_overlap=8,
        files=[upload("a.md", "Rivers and bridges. " * 200), upload("b.txt", "Lakes.")],
    )  # fmt: skip
    assert run_queued() == [OperationStatus.COMPLETED]
    client = api(editor_member)
    with EmbeddingServer() as server:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", server.base_url)
        patched = client.patch(asset_url(asset), {"embedding": SMALL}, format="json")
        assert patched.status_code == 200, patched.content
        assert run_queued() == [OperationStatus.COMPLETED]
        assert server.snapshot()  # the new model was asked
        found = client.post(
            asset_url(asset, ":search"),
            # The test server's vectors are hashes of the text: only the same text
            # is near (similarity 1); any other is a tie at about 0.
            {"query": "Lakes.", "searchMode": "VECTOR"},
            format="json",
        )
    op = Operation.objects.get(pk=patched.json()["operation"]["id"])
    assert (op.type, op.documents_updated, op.token_count > 0) == (
        OperationType.REINDEX, 2, True,
    )  # fmt: skip
    chunks = Chunk.objects.filter(asset=asset)
    assert set(chunks.values_list("embedding_dimensions", flat=True)) == {1536}
    assert found.status_code == 200, found.content
    top = found.json()["results"][0]
    assert (top["content"], round(top["score"], 6)) == ("Lakes.", 1.0)


def test_estimate_says_reindex_while_a_reindex_is_pending(
    editor_member, run_queued, admin_member
):
    """After a cancelled or failed re-index (index ≠ target) the next refresh is a
    re-index of every document: the estimate says so (found by QA)."""
    asset, _ = asset_create_from_uploads(
        actor=admin_member, display_name="Notes", chunk_size=64, chunk_overlap=8,
        files=[upload("a.md", "Rivers and bridges. " * 200)],
    )  # fmt: skip
    assert run_queued() == [OperationStatus.COMPLETED]
    url = asset_url(asset, ":estimate")
    plain = api(editor_member).post(url, {}, format="json").json()
    assert (plain["reindex"], plain["tokenCount"]) == (False, 0)
    Asset.objects.filter(pk=asset.pk).update(chunk_size=48)  # as a PATCH leaves it
    pending = api(editor_member).post(url, {}, format="json").json()
    assert pending["reindex"] is True
    assert pending["stats"]["documentsUpdated"] == 1 and pending["tokenCount"] > 0
