"""OpenAPI pieces every API view's schema shares (drf-spectacular): Problem Details
error responses, the page envelope, the paging and header parameters, and the Bearer
security scheme. The views return dicts, so each one states its shapes with
``extend_schema``; this module keeps those declarations short.

Served at ``/v1/openapi.json`` (Swagger UI at ``/v1/docs``); docs/api.md explains it."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    inline_serializer,
)
from rest_framework import serializers

from config.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_SKIP

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Every ``type`` a Problem Details body can have (``/v1/problems/<code>``), with the
# status it comes with; docs/api.md explains each.
PROBLEM_CODES = {
    "validation-failed": 400,
    "malformed-request": 400,
    "bad-request": 400,
    "unauthenticated": 401,
    "invalid-signature": 401,
    "forbidden": 403,
    "not-found": 404,
    "method-not-allowed": 405,
    "not-acceptable": 406,
    "conflict": 409,
    "invalid-transition": 409,
    "webhook-replayed": 409,
    "precondition-failed": 412,
    "payload-too-large": 413,
    "unsupported-media-type": 415,
    "idempotency-key-reused": 422,
    "source-unreadable": 422,
    "rate-limited": 429,
    "budget-exhausted": 429,
    "internal-error": 500,
    "embedding-failed": 502,
}


class ProblemDetailsSerializer(serializers.Serializer):
    """RFC 9457 Problem Details, as config.problems renders every error."""

    type = serializers.CharField(
        help_text="A URI per error kind: /v1/problems/<code> (see docs/api.md)."
    )
    title = serializers.CharField(help_text="The error kind's name.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong and what to do.")
    instance = serializers.CharField(help_text="The request path.")
    requestId = serializers.CharField(
        required=False, help_text="The request's id in the server logs."
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="On validation failures: field path → messages.",
    )
    retryAfter = serializers.IntegerField(
        required=False, help_text="On 429: seconds to wait before retrying."
    )
    operationId = serializers.UUIDField(
        required=False, help_text="The operation the error is about, if any."
    )
    limit = serializers.CharField(
        required=False, help_text="budget-exhausted: the limit, e.g. dailyTokenBudget."
    )
    resetsAt = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="budget-exhausted: when the limit resets (epoch ms, UTC); null "
        "for the total budget, which never does.",
    )


_WHEN = {
    400: ("validation-failed", "The request is invalid; see errors for each field."),
    401: ("unauthenticated", "Authentication credentials were not provided."),
    403: ("forbidden", "Your role in this tenant does not allow this."),
    404: ("not-found", "No such object in this tenant."),
    409: ("conflict", "An operation of this asset is running; wait or cancel it."),
    412: ("precondition-failed", "The asset was changed since you read it."),
    413: ("payload-too-large", "The file is larger than 50 MB."),
    415: ("unsupported-media-type", "This file type is not supported."),
    422: (
        "idempotency-key-reused",
        "The Idempotency-Key was used for another request.",
    ),
    429: ("rate-limited", "Request was throttled. Expected available in 3 seconds."),
    502: ("embedding-failed", "Embedding the query failed: the provider answered 503."),
}
_TITLES = {
    400: "Validation failed",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Idempotency key reused",
    429: "Too many requests",
    502: "Embedding failed",
}


def problems(*statuses: int) -> dict:
    """``extend_schema(responses=…)`` entries: ``application/problem+json`` Problem
    Details for each status, with an example."""
    out = {}
    for status in statuses:
        code, detail = _WHEN[status]
        example = {
            "type": f"/v1/problems/{code}",
            "title": _TITLES[status],
            "status": status,
            "detail": detail,
            "instance": "/v1/tenants/demo/assets",
            "requestId": "3f2c1d0e9b8a4c7d",
        }
        if status == 400:
            example["errors"] = {"embedding.chunkSize": ["A valid integer."]}
        if status == 429:
            example["retryAfter"] = 3
        out[(status, PROBLEM_MEDIA_TYPE)] = OpenApiResponse(
            ProblemDetailsSerializer,
            description=f"{_TITLES[status]} (Problem Details).",
            examples=[OpenApiExample(code, value=example, status_codes=[status])],
        )
    return out


def budget_exhausted() -> dict:
    """The 429 of an endpoint that spends budget: throttled, or a budget limit
    exhausted (assets_app.budgets.BudgetExhausted), with an example of each."""
    response = problems(429)[(429, PROBLEM_MEDIA_TYPE)]
    response.examples.append(OpenApiExample("budget-exhausted", status_codes=[429],
        value={
            "type": "/v1/problems/budget-exhausted", "title": "Budget exhausted",
            "status": 429,
            "detail": "The daily token budget (dailyTokenBudget) is exhausted: 1000 "
            "of 1000 tokens used on 2026-11-29 (UTC); this query needs 6 more. It "
            "resets at 2026-11-30T00:00:00Z.",
            "instance": "/v1/tenants/demo/assets/6f1c…:search",
            "limit": "dailyTokenBudget", "resetsAt": 1796083200000,
            "retryAfter": 3600,
        },
    ))  # fmt: skip
    response.description = "Throttled, or a budget limit exhausted (Problem Details)."
    return {(429, PROBLEM_MEDIA_TYPE): response}


# Errors any tenant endpoint can answer: no or bad credential, not a member (or a role
# too low), an unknown tenant or object, throttled.
TENANT_ERRORS = (401, 403, 404, 429)


def page_of(item, name: str):
    """The page envelope ``{items, nextPageToken, totalCount}`` of ``item``s."""
    return inline_serializer(
        name=name,
        fields={
            "items": item(many=True),
            "nextPageToken": serializers.CharField(
                allow_null=True,
                help_text="Pass as pageToken for the next page; null on the last page.",
            ),
            "totalCount": serializers.IntegerField(
                help_text="Rows matching the filters, over all pages, as counted "
                "for the listing's first page (later pages repeat that count)."
            ),
        },
    )


def _int(minimum: int, maximum: int) -> dict:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


_TOKEN_HELP = (
    "The nextPageToken of the previous page (opaque; keyset cursor). Only valid for "
    "the same tenant, list and filters; otherwise 400."
)
PAGE_PARAMETERS = [
    OpenApiParameter(
        "pageSize",
        _int(1, MAX_PAGE_SIZE),
        description=f"Rows per page, 1 to {MAX_PAGE_SIZE} "
        f"(default {DEFAULT_PAGE_SIZE}).",
    ),
    OpenApiParameter("pageToken", str, description=_TOKEN_HELP),
    OpenApiParameter(
        "PageSize", _int(1, MAX_PAGE_SIZE), description="Alias of pageSize."
    ),
    OpenApiParameter("PageToken.Cursor", str, description="Alias of pageToken."),
    OpenApiParameter(
        "PageToken.Skip",
        _int(0, MAX_SKIP),
        description="Rows to skip (an offset) when no pageToken is given.",
    ),
]
SEARCH_PARAMETER = OpenApiParameter(
    "search", str, description="Case-insensitive substring of the name."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    description="Safe retries: the same key with the same request within 24 h returns "
    "the first response (header Idempotent-Replayed: true) without doing the work "
    "again; with a different request it is a 422.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="The ETag of GET …/assets/{asset_id}; on mismatch the PATCH is a 412.",
)
ETAG = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    description="Version of the asset's settings, for If-Match.",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    description="`true` when this is the stored response of an earlier request with "
    "the same Idempotency-Key.",
)


def uuid_path(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=f"The {what}'s id."
    )


TENANT = OpenApiParameter(
    "tenant", str, OpenApiParameter.PATH, description="The tenant's slug."
)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """One ``bearerAuth`` scheme for both credentials the API takes."""

    target_class = "config.api_auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT or personal API token",
            "description": "A JWT access token from POST /v1/auth/token, or a personal "
            "API token (rdk_…) created on /account/tokens/.",
        }


class JwtScheme(OpenApiAuthenticationExtension):
    """simplejwt's JWTAuthentication takes the same ``Authorization: Bearer`` header:
    it adds no scheme of its own to ApiTokenScheme's ``bearerAuth``."""

    target_class = "rest_framework_simplejwt.authentication.JWTAuthentication"
    match_subclasses = True  # config.api_auth.TenantJWTAuthentication
    name = []  # register nothing
    priority = 1  # over drf-spectacular's own simplejwt extension

    def get_security_definition(self, auto_schema):
        return []

    def get_security_requirement(self, auto_schema):
        return None


def forbid_unknown_request_fields(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: request bodies take no member they do not list
    (API.md "Conventions": unknown fields are a 400), so say
    ``additionalProperties: false`` on every request component."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema.setdefault("additionalProperties", False)
    return result
