"""assets_app.selectors: search input that PostgreSQL text cannot hold."""

from __future__ import annotations

import pytest

from assets_app.selectors import asset_list, document_list
from tests.factories import AssetFactory, DocumentFactory

pytestmark = pytest.mark.django_db


def test_asset_search_ignores_nul_characters(tenant):
    AssetFactory(tenant=tenant, display_name="Handbook")
    AssetFactory(tenant=tenant, display_name="Roadmap")
    assert [
        a.display_name for a in asset_list(tenant=tenant, search="Hand\x00book")
    ] == ["Handbook"]
    assert asset_list(tenant=tenant, search="\x00").count() == 2


def test_document_search_ignores_nul_characters(tenant):
    asset = AssetFactory(tenant=tenant)
    DocumentFactory(asset=asset, source_key="guide.md")
    DocumentFactory(asset=asset, source_key="notes.txt")
    found = document_list(asset=asset, search="gui\x00de")
    assert [d.file_name for d in found] == ["guide.md"]
    assert document_list(asset=asset, search="\x00").count() == 2
