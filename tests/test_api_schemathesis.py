"""Property-based API testing with schemathesis against the live schema (issue 3):
every operation of ``/v1/openapi.json`` is called with generated requests, as the
ADMIN of a tenant that has an ingested asset, documents, chunks and operations, and
every response must be no 5xx, have a documented status code and content type, and
conform to the documented schema.

The path parameters are the real tenant slug and ids (random ones would only ever
reach the 403/404 branches). The DELETE operations are left out so that the data
stays in place for the other operations; tests/assets_app/test_api.py covers them.
Examples are bounded so the run stays within a couple of minutes on two cores."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assets_app.autoupdate import AutoUpdateSettings, asset_set_auto_update
from assets_app.models import Role
from assets_app.services import (
    asset_create_from_source,
    asset_create_from_uploads,
    asset_refresh,
)
from config.api_auth import PerTokenThrottle
from operations_app.models import OperationStatus
from tests.conftest import upload
from tests.factories import MembershipFactory, TenantFactory, UserFactory

# Per operation and generation mode; RAGDESK_FUZZ_EXAMPLES=200 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("RAGDESK_FUZZ_EXAMPLES", "10"))
NEED_REAL_INPUT = {
    "POST /v1/auth/token",
    "POST /v1/auth/token:refresh",
    "POST /v1/tenants/{tenant}/assets",
    "POST /v1/tenants/{tenant}/assets:file",
    # a URL that resolves to a public address: tests/operations_app covers success
    "POST /v1/tenants/{tenant}/notificationEndpoints",
    # An HMAC signature, and an asset with a webhook (the fuzzed one is an upload).
    "POST /v1/webhooks/{webhook_id}",
    "POST /v1/tenants/{tenant}/assets/{asset_id}:regenerateWebhook",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(live_server, run_queued, monkeypatch):
    """A tenant whose ADMIN has an ingested upload asset (two documents with chunks
    and a corrupt PDF that failed, the INGEST COMPLETED, its id the operation
    parameter, so that its failedDocuments can be listed and retried) and a queued
    REFRESH; returns the path parameters and a JWT. Throttling is lifted: a 429 would only stop the run early."""
    monkeypatch.setattr(PerTokenThrottle, "rate", "100000/min", raising=False)
    member = MembershipFactory(
        tenant=TenantFactory(slug="fuzz"), role=Role.ADMIN, user=UserFactory()
    )
    text = "\n\n".join(f"Paragraph {i} about alpha and beta. " * 8 for i in range(20))
    asset, ingest = asset_create_from_uploads(
        actor=member,
        display_name="Handbook",
        files=[
            upload("a.md", "# Title\n\n" + text),
            upload("b.txt", "short text"),
            upload("c.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage"),
        ],
        chunk_size=64,
        chunk_overlap=8,
    )
    assert run_queued() == [OperationStatus.COMPLETED]
    asset_refresh(actor=member, asset=asset, document_ids=None, force=True)
    document = asset.documents.order_by("file_name").first()
    from operations_app.notifications.services import endpoint_create

    with override_settings(RAGDESK_FETCH_ALLOW_NETWORKS=["127.0.0.0/8"]):
        endpoint, _ = endpoint_create(actor=member, url="http://127.0.0.1:9/hook")
    # A git asset whose URL_SECRET webhook the delivery routes are called with (its
    # INGEST stays queued: deliveries join it).
    git, _ = asset_create_from_source(
        actor=member, display_name="Repo", source_type="git",
        parameters={"url": "https://93.184.215.14/r.git"},
    )  # fmt: skip
    minted = asset_set_auto_update(actor=member, asset=git, settings=AutoUpdateSettings(
        strategy="WEBHOOK", webhook_auth_mode="URL_SECRET"))  # fmt: skip
    return {
        "parameters": {
            "tenant": member.tenant.slug,
            "asset_id": str(asset.id),
            "document_id": str(document.id),
            "operation_id": str(ingest.id),
            "endpoint_id": str(endpoint.id),
            "webhook_id": str(minted.webhook.id),
            "secret": minted.path.rsplit("/", 1)[1],
        },
        "token": str(RefreshToken.for_user(member.user).access_token),
    }


def _operations(live_server):
    """Every documented operation but DELETE."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/v1/openapi.json")
    schema.config.update(base_url=live_server.url)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "DELETE":
            yield operation


def _fuzz(operation, mode: GenerationMode, seeded: dict) -> list[int]:
    """Up to MAX_EXAMPLES generated requests to ``operation``, checked by CHECKS;
    returns the status codes seen."""
    seen = []
    path_parameters = {
        p.name: seeded["parameters"][p.name] for p in operation.path_parameters
    }
    headers = {"Authorization": f"Bearer {seeded['token']}"}

    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        seen.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

    run()
    return seen


# Not pytest's parametrize over operations: schemathesis' lazy (fixture-based) schema
# does not run under pytest 9, and the data must be seeded once, while live_server is
# up, for all operations.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_api_answers_every_generated_request_as_documented(live_server, seeded):
    failures, statuses = {}, {}
    operations = list(_operations(live_server))
    assert len(operations) >= 17
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                statuses[operation.label, mode] = _fuzz(operation, mode, seeded)
            except Exception as exc:  # collect all, report together
                failures[f"{operation.label} ({mode.value})"] = exc
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    # The run reached the real data: every operation answered 2xx at least once, but
    # those whose success needs more than a schema can say (real credentials, a
    # folder below RAGDESK_FOLDER_ROOTS, a file of a supported type): the contract
    # tests cover their success.
    for operation in (o for o in operations if o.label not in NEED_REAL_INPUT):
        seen = statuses[operation.label, GenerationMode.POSITIVE]
        assert any(200 <= s < 300 for s in seen), (operation.label, seen)
