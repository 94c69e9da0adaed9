"""The settings page's model picker: a new embedding model goes through the
re-index confirmation (its estimate priced with the new model) and starts a
REINDEX; an invalid choice, or a chunk size above the new model's input limit, is
an inline error and saves nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from assets_app.models import Asset, ModelPrice
from assets_app.selectors import embedding_models
from assets_app.services import asset_create_from_uploads
from operations_app.models import Operation, OperationStatus, OperationType
from tests.assets_app.test_estimate import table_counts
from tests.assets_app.test_views import (
    create_url,
    field_error,
    form_inputs,
    login,
    settings_post,
    settings_url,
)
from tests.conftest import upload

TEXT = "\n\n".join(f"Sentence {i} is about lanterns and lakes." for i in range(80))
LARGE = "openai/text-embedding-3-large"  # 3072 dimensions, 0.13 USD per 1M tokens


@pytest.fixture
def asset(editor_member, run_queued):
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="Lanterns", files=[upload("a.txt", TEXT)]
    )
    assert run_queued() == [OperationStatus.COMPLETED]
    return asset


def selected_model(html: str) -> str | None:
    select = html[html.index('name="embedding_model"') :]
    select = select[: select.index("</select>")]
    found = re.search(r'<option value="([^"]+)"[^>]*selected', select)
    return found and found.group(1)


def test_settings_page_offers_the_models_of_the_catalogue_with_the_current_one(
    client, editor_member, asset
):
    html = login(client, editor_member).get(settings_url(asset)).content.decode()
    select = html[html.index('name="embedding_model"') :]
    select = select[: select.index("</select>")]
    offered = re.findall(r'<option value="([^"]+)"', select)
    assert offered == [f"{m.provider}/{m.model}" for m in embedding_models()]
    assert selected_model(html) == "builtin/hashed-lexical-384"


def test_model_change_asks_for_confirmation_with_the_new_models_price(
    client, editor_member, asset
):
    before = table_counts()
    response = login(client, editor_member).post(
        settings_url(asset), settings_post(asset, embedding_model=LARGE)
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "This re-embeds 1 document" in html and 'id="confirm-reindex"' in html
    assert f'id="reindex-model">{LARGE}<' in html
    assert "the new chunking" not in html
    tokens = int(re.search(r'id="estimate-tokens">(\d+)<', html).group(1))
    cost = re.search(r'id="estimate-cost">\$([\d.]+)<', html).group(1)
    assert tokens > 0
    assert Decimal(cost) == round(Decimal(tokens) * Decimal("0.13") / 10**6, 6)
    assert table_counts() == before  # nothing saved, nothing started


def test_confirmed_model_change_saves_it_and_starts_a_reindex(
    client, editor_member, asset, no_enqueue
):
    html = (
        login(client, editor_member)
        .post(settings_url(asset), settings_post(asset, embedding_model=LARGE))
        .content.decode()
    )
    data: dict[str, list[str]] = {}
    for name, value in form_inputs(html, "settings-form"):
        data.setdefault(name, []).append(value)
    data["embedding_model"] = [selected_model(html)]  # a <select>, not an <input>
    assert data["confirm_reindex"] == ["on"]
    response = client.post(settings_url(asset), data)
    assert response.status_code == 302
    asset.refresh_from_db()
    assert (
        asset.embedding_provider, asset.embedding_model, asset.embedding_dimensions,
    ) == ("openai", "text-embedding-3-large", 3072)  # fmt: skip
    op = Operation.objects.latest("created_at")
    assert (op.type, op.status, op.embedding_model) == (
        OperationType.REINDEX, OperationStatus.PENDING, "text-embedding-3-large",
    )  # fmt: skip
    assert no_enqueue[-1] == str(op.id)


@pytest.mark.parametrize("confirm", ["", "on"], ids=["unconfirmed", "confirmed"])
def test_unknown_model_is_an_inline_error_and_saves_nothing(
    client, editor_member, asset, confirm
):
    before = table_counts()
    response = login(client, editor_member).post(
        settings_url(asset),
        settings_post(
            asset, display_name="Renamed", embedding_model="openai/nope",
            confirm_reindex=confirm,
        ),
    )  # fmt: skip
    assert response.status_code == 400
    assert "not one of the available choices" in field_error(
        response, "embedding_model"
    )
    assert 'id="reindex-confirm"' not in response.content.decode()
    assert table_counts() == before
    assert Asset.objects.get(pk=asset.pk).display_name == "Lanterns"


@pytest.mark.parametrize("confirm", ["", "on"], ids=["unconfirmed", "confirmed"])
def test_chunk_size_above_the_new_models_input_limit_is_an_inline_error(
    client, editor_member, asset, confirm
):
    ModelPrice.objects.create(
        provider="openai", model="tiny-embed", dimensions=256, max_input_tokens=100,
        price_per_million_tokens=Decimal("0.01"),
    )  # fmt: skip
    before = table_counts()
    response = login(client, editor_member).post(
        settings_url(asset),
        settings_post(
            asset, embedding_model="openai/tiny-embed", confirm_reindex=confirm
        ),
    )
    assert response.status_code == 400
    assert "16 to 100" in field_error(response, "chunk_size")
    assert 'id="reindex-confirm"' not in response.content.decode()
    assert table_counts() == before


def test_viewer_cannot_change_the_model(client, viewer_member, asset):
    response = login(client, viewer_member).post(
        settings_url(asset),
        settings_post(asset, embedding_model=LARGE, confirm_reindex="on"),
    )
    assert response.status_code == 400 and "VIEWER" in response.content.decode()
    asset.refresh_from_db()
    assert asset.embedding_model == "hashed-lexical-384"


def test_usd_budget_with_a_model_change_converts_at_the_new_price(
    client, editor_member, asset, no_enqueue
):
    response = login(client, editor_member).post(
        settings_url(asset),
        settings_post(
            asset, embedding_model=LARGE, confirm_reindex="on",
            daily_token_budget_usd="1.3",
        ),
    )  # fmt: skip
    assert response.status_code == 302, field_error(response, "daily_token_budget")
    asset.refresh_from_db()
    assert asset.daily_token_budget == 10_000_000  # 1.3 USD at 0.13 USD / 1M tokens


def test_create_form_no_longer_says_the_model_cannot_change(client, editor_member):
    html = login(client, editor_member).get(create_url(editor_member.tenant))
    assert "cannot be changed later" not in html.content.decode()


def test_a_model_no_longer_offered_stays_selectable_as_no_change(
    client, editor_member, asset
):
    ModelPrice.objects.filter(provider="builtin").delete()  # an admin removed it
    html = login(client, editor_member).get(settings_url(asset)).content.decode()
    assert selected_model(html) == "builtin/hashed-lexical-384"
    assert "(current; no longer offered)" in html
    response = client.post(
        settings_url(asset),
        settings_post(
            asset, display_name="Renamed", embedding_model=selected_model(html)
        ),
    )
    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.display_name, asset.embedding_model) == (
        "Renamed", "hashed-lexical-384",
    )  # fmt: skip


def test_detail_page_says_what_search_answers_from_while_the_index_differs(
    client, editor_member, no_enqueue
):
    """After a model change and until its REINDEX completes, the asset page names
    the settings of the index search uses (ingestion/switch.py); not before."""
    from tests.factories import AssetFactory

    asset = AssetFactory(tenant=editor_member.tenant, display_name="Lakes")
    client.force_login(editor_member.user)
    url = f"/t/{asset.tenant.slug}/assets/{asset.id}/"
    assert 'id="index-pending"' not in client.get(url).content.decode()
    Asset.objects.filter(pk=asset.pk).update(
        embedding_provider="openai", embedding_model="text-embedding-3-small",
        embedding_dimensions=1536,
    )  # fmt: skip
    html = client.get(url).content.decode()
    pending = html[html.index('id="index-pending"') :]
    assert "builtin/hashed-lexical-384" in pending[:400]
    assert "384 dims" in pending[:400]
