"""Request and response examples of the asset endpoints' OpenAPI schema (taken from
a real session; see docs/api.md)."""

from drf_spectacular.utils import OpenApiExample

OPERATION = {
    "id": "0b6f3f0e-3c1b-4a51-9a43-5f1f0f3b2a10",
    "assetId": "5a0e4c9e-2f4d-4f7e-8a57-0f5b8d7c6e21",
    "tenantId": "7d0c1c52-8a5e-4c55-9c07-1f2f7f1c9a11",
    "type": "INGEST",
    "status": "PENDING",
    "done": False,
    "startedAt": None,
    "completedAt": None,
    "createdAt": 1767225600000,
    "itemsProcessed": 0,
    "itemsTotal": 0,
    "tokenCount": 0,
    "chunkCount": 0,
    "cost": 0.0,
    "errorMessage": None,
    "createdBy": "admin",
    "cancelRequested": False,
    "stats": {
        "documentsAdded": 0,
        "documentsUpdated": 0,
        "documentsDeleted": 0,
        "documentsUnchanged": 0,
        "documentsFailed": 0,
    },
}
ASSET = {
    "id": "5a0e4c9e-2f4d-4f7e-8a57-0f5b8d7c6e21",
    "displayName": "Handbook",
    "type": "UPLOAD",
    "vectorized": True,
    "config": {"sourceType": "upload", "parameters": {}},
    "assetLink": None,
    "createdAt": 1767225600000,
    "modifiedAt": 1767225600000,
    "autoUpdate": False,
    "autoUpdateConfig": None,
    "lastPolledAt": None,
    "supportsAutoUpdate": False,
    "supportsWebhookRegistration": False,
    "supportsPollSchedule": False,
    "embedding": {
        "provider": "builtin",
        "model": "hashed-lexical-384",
        "dimensions": 384,
        "chunkSize": 512,
        "chunkOverlap": 64,
    },
    "indexEmbedding": {
        "provider": "builtin",
        "model": "hashed-lexical-384",
        "dimensions": 384,
        "chunkSize": 512,
        "chunkOverlap": 64,
    },
    "budget": {
        "tokenBudget": 1000000, "monthlyTokenBudget": None, "dailyTokenBudget": 50000,
        "totalTokenCount": 0, "monthlyTokensUsed": 0, "dailyTokensUsed": 0,
        "costBudget": 0.0, "monthlyCostBudget": None, "dailyCostBudget": 0.0,
        "totalCost": 0.0, "monthlyCostUsed": 0.0, "dailyCostUsed": 0.0,
        "pricePerMillionTokens": 0.0,
    },  # fmt: skip
    "documentCount": 0,
    "chunkCount": 0,
    "lastOperation": OPERATION,
}
CREATED = OpenApiExample(
    "Created, INGEST pending",
    response_only=True,
    value={"asset": ASSET, "operation": OPERATION},
)
CREATE_FOLDER = OpenApiExample(
    "A folder on the server",
    request_only=True,
    value={
        "config": {
            "sourceType": "folder",
            "parameters": {"path": "/srv/ragdesk/docs", "glob": "**/*.md"},
        },
        "name": "Handbook",
        "embedding": {"chunkSize": 512, "chunkOverlap": 64},
    },
)
CREATE_WEB = OpenApiExample(
    "Web pages (crawl)",
    request_only=True,
    value={
        "config": {
            "sourceType": "web",
            "parameters": {
                "url": "https://docs.example.com/", "mode": "CRAWL", "maxDepth": 2,
                "maxPages": 200, "include": ["/guide/*"], "exclude": ["*/changelog*"],
            },
        },
        "name": "Product docs",
    },
)
CREATE_GIT = OpenApiExample(
    "A git repository",
    request_only=True,
    value={
        "config": {
            "sourceType": "git",
            "parameters": {
                "url": "https://github.com/example/handbook.git", "branch": "main",
                "include": ["*.md"], "exclude": ["drafts/**"],
            },
        },
        "name": "Handbook repository",
    },
)
CREATE_GIT_WEBHOOK = OpenApiExample(
    "A git repository updated by a GitHub webhook (ADMIN)",
    request_only=True,
    value={
        "config": {
            "sourceType": "git",
            "parameters": {"url": "https://github.com/example/handbook.git"},
        },
        "name": "Handbook repository",
        "autoUpdate": {"strategy": "WEBHOOK", "filter": "docs/**"},
    },
)
WEBHOOK = {
    "id": "3e9a3c1e-8f0b-4a57-9d1c-2f6e0b7a4c55",
    "provider": "GITHUB",
    "authMode": "HMAC_SHA256",
    "status": "ACTIVE",
    "createdAt": 1767225600000,
    "modifiedAt": 1767225600000,
    "webhookUrl": "https://ragdesk.example.com/v1/webhooks/"
    "3e9a3c1e-8f0b-4a57-9d1c-2f6e0b7a4c55",
    "signingSecret": "whsec_5d41402abc4b2a76b9719d911017c592"
    "7f1d0b5e9c3a6e8f2b4d7a1c0e9f8b3a",
}
GIT_ASSET = {
    **ASSET,
    "displayName": "Handbook repository",
    "type": "GIT",
    "config": {
        "sourceType": "git",
        "parameters": {
            "url": "https://github.com/example/handbook.git", "branch": "",
            "include": [], "exclude": [],
        },
    },
    "autoUpdate": True,
    "autoUpdateConfig": {
        "strategy": "WEBHOOK", "pollFrequency": None, "pollDay": None,
        "pollDayOfMonth": None, "pollHour": None, "pollMinute": None,
        "timezone": None, "filter": "docs/**", "webhookAuthMode": "HMAC_SHA256",
    },
    "supportsAutoUpdate": True,
    "supportsWebhookRegistration": True,
    "supportsPollSchedule": True,
}  # fmt: skip
CREATED_WITH_WEBHOOK = OpenApiExample(
    "Created with a webhook (its URL and secret shown this once)",
    response_only=True,
    value={"asset": GIT_ASSET, "operation": OPERATION, "webhook": WEBHOOK},
)
PATCH_POLL = OpenApiExample(
    "Poll every Monday at 06:30 Berlin time",
    request_only=True,
    value={
        "autoUpdate": {
            "strategy": "POLL", "pollFrequency": "WEEKLY", "pollDay": "MONDAY",
            "pollHour": 6, "pollMinute": 30, "timezone": "Europe/Berlin",
        }
    },
)  # fmt: skip
PATCH_DISABLE_AUTO_UPDATE = OpenApiExample(
    "Turn auto-update off (webhook and schedule removed)",
    request_only=True,
    value={"disableAutoUpdate": True},
)
REGENERATED = OpenApiExample(
    "A new URL and secret (the old URL answers 404)",
    response_only=True,
    value={**WEBHOOK, "id": "b7c1f0a2-5d3e-4f68-9a0b-1c2d3e4f5a6b",
           "webhookUrl": "https://ragdesk.example.com/v1/webhooks/"
           "b7c1f0a2-5d3e-4f68-9a0b-1c2d3e4f5a6b"},
)  # fmt: skip
DELIVERY_QUEUED = OpenApiExample(
    "A WEBHOOK_UPDATE queued (or joined)",
    response_only=True,
    status_codes=["202"],
    value={
        "operationId": "0b6f3f0e-3c1b-4a51-9a43-5f1f0f3b2a10",
        "type": "WEBHOOK_UPDATE",
        "status": "PENDING",
    },
)
DELIVERY_IGNORED = OpenApiExample(
    "Nothing to update",
    response_only=True,
    status_codes=["200"],
    value={
        "operationId": None,
        "detail": "A push to refs/heads/feature; this asset reads the branch main.",
    },
)
PATCH_NAME = OpenApiExample(
    "Rename (no operation)", request_only=True, value={"displayName": "Staff handbook"}
)
PATCH_CHUNKING = OpenApiExample(
    "New chunking (starts a REINDEX)",
    request_only=True,
    value={"embedding": {"chunkSize": 256, "chunkOverlap": 32}},
)
PATCH_MODEL = OpenApiExample(
    "New embedding model (starts a REINDEX)",
    request_only=True,
    value={"embedding": {"provider": "openai", "model": "text-embedding-3-small"}},
)
PATCHED_MODEL = OpenApiExample(
    "Model changed, REINDEX pending",
    response_only=True,
    value={
        "asset": {
            **ASSET,
            "embedding": {
                "provider": "openai",
                "model": "text-embedding-3-small",
                "dimensions": 1536,
                "chunkSize": 512,
                "chunkOverlap": 64,
            },
            # Token limits are kept; their USD view follows the new price.
            "budget": {
                **ASSET["budget"],
                "costBudget": 0.02,
                "dailyCostBudget": 0.001,
                "pricePerMillionTokens": 0.02,
            },
            "lastOperation": {**OPERATION, "type": "REINDEX"},
        },
        "operation": {**OPERATION, "type": "REINDEX"},
    },
)
PATCH_BUDGET = OpenApiExample(
    "Budget limits (apply at once; null: unlimited)",
    request_only=True,
    value={
        "budget": {"dailyTokenBudget": 50000, "tokenBudget": None},
        "currencyBudget": {"monthlyCostBudget": 5},
    },
)
USAGE = OpenApiExample(
    "Usage",
    response_only=True,
    value={
        "assetId": "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", "totalTokenCount": 120000,
        "totalChunkCount": 240, "documentCount": 12, "operationCount": 3,
        "totalCost": 0.0024,
        "daily": [{"date": "2026-10-31", "tokens": 0, "cost": 0.0},
                  {"date": "2026-11-29", "tokens": 1200, "cost": 0.000024}],
    },
)  # fmt: skip
REFRESH = OpenApiExample(
    "Re-embed everything", request_only=True, value={"force": True}
)
ASSET_EXAMPLE = OpenApiExample("An asset", response_only=True, value=ASSET)
FAILED_DOCUMENTS = OpenApiExample(
    "One document failed",
    response_only=True,
    value={
        "items": [
            {
                "documentId": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                "fileName": "scan.pdf",
                "sourceUrl": None,
                "errorMessage": "The PDF has no text layer (a scan?); ragdesk does "
                "not run OCR.",
                "failedAt": 1767225601000,
                "documentStatus": "FAILED",
            }
        ],
        "nextPageToken": None,
        "totalCount": 1,
    },
)
