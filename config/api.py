"""What every API view shares: the tenant from the URL, keyset pagination, epoch-ms
times. Authentication and throttling are in config.api_auth."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from django.db.models import Q, QuerySet
from rest_framework.views import APIView

from assets_app.selectors import membership_get
from config.errors import ValidationFailed

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class TenantAPIView(APIView):
    """Resolves ``self.membership`` from the URL's ``tenant`` slug after
    authentication: unknown tenant → 404, not a member → 403."""

    membership = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.membership = membership_get(user=request.user, tenant_slug=kwargs["tenant"])

    @property
    def tenant(self):
        return self.membership.tenant


def epoch_ms(value: datetime | None) -> int | None:
    """Milliseconds since the Unix epoch (UTC), or None (API.md "Conventions")."""
    return None if value is None else int(value.timestamp() * 1000)


# -- keyset pagination ----------------------------------------------------------------
def _encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, n: int) -> list[str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) != n:
        raise ValidationFailed("The pageToken is not valid; start from the first page.",
                               errors={"pageToken": ["Not a token this API issued."]})
    return values


def _after(fields: list[str], values: list) -> Q:
    """Rows after ``values`` in the order of ``fields`` ("-f" = descending)."""
    q = Q()
    for i, field in enumerate(fields):
        name = field.lstrip("-")
        step = Q(**{f"{name}__lt" if field.startswith("-") else f"{name}__gt": values[i]})
        for prev, value in zip(fields[:i], values[:i], strict=False):
            step &= Q(**{prev.lstrip("-"): value})
        q |= step
    return q


def page_params(query) -> tuple[int, str | None, int | None]:
    """``(pageSize, pageToken, skip)`` from the query, with the aliases ``PageSize``,
    ``PageToken.Cursor`` and ``PageToken.Skip``. Raises ValidationFailed."""
    raw_size = query.get("pageSize", query.get("PageSize", str(DEFAULT_PAGE_SIZE)))
    raw_skip = query.get("PageToken.Skip")
    errors = {}
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        errors["pageSize"] = [f"A whole number from 1 to {MAX_PAGE_SIZE}."]
    if raw_skip is not None and not raw_skip.isdigit():
        errors["PageToken.Skip"] = ["A whole number ≥ 0."]
    if errors:
        raise ValidationFailed("The paging parameters are invalid.", errors=errors)
    token = query.get("pageToken") or query.get("PageToken.Cursor") or None
    return int(raw_size), token, int(raw_skip) if raw_skip is not None else None


def paginate(queryset: QuerySet, query, fields: list[str], render) -> dict:
    """One page of ``queryset`` ordered by ``fields`` (ending with a unique field),
    as ``{"items", "nextPageToken", "totalCount"}``. The cursor holds the last row's
    ordering values, so pages stay stable while rows are inserted."""
    size, token, skip = page_params(query)
    ordered = queryset.order_by(*fields)
    total = queryset.count()
    page_qs = ordered
    if token:
        page_qs = page_qs.filter(_after(fields, _decode(token, len(fields))))
    elif skip:
        page_qs = page_qs[skip:]
    rows = list(page_qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    next_token = None
    if more and rows:
        last = rows[-1]
        next_token = _encode([getattr(last, f.lstrip("-").replace("__", ".")) for f in fields])
    return {"items": [render(r) for r in rows], "nextPageToken": next_token,
            "totalCount": total}
