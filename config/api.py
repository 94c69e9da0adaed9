"""What every API view shares: the tenant from the URL, keyset pagination, epoch-ms
times. Authentication and throttling are in config.api_auth."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from assets_app.selectors import membership_get
from config.errors import ValidationFailed

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


class RejectUnknownFieldsMixin:
    """Serializer mixin: body members that are not writable fields are a 400 naming
    them (API.md "Conventions": the seed's schemas forbid extra properties)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(k) for k in data if k not in known)
            if unknown:
                raise ValidationFailed(
                    f"Unknown field{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(unknown)}; this request takes "
                    f"{', '.join(sorted(known))}.",
                    errors={name: ["Unknown field."] for name in unknown},
                )
        return super().to_internal_value(data)


def epoch_ms(value: datetime | None) -> int | None:
    """Milliseconds since the Unix epoch (UTC), or None (API.md "Conventions").
    Exact integer arithmetic, no float in between."""
    return None if value is None else (value - _EPOCH) // timedelta(milliseconds=1)


# -- keyset pagination ----------------------------------------------------------------
# ASCII digits only: str.isdigit() accepts "²", which int() refuses.
_WHOLE = re.compile(r"[0-9]{1,10}")
MAX_SKIP = 1_000_000_000


def _encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_token() -> ValidationFailed:
    return ValidationFailed("The pageToken is not valid; start from the first page.",
                            errors={"pageToken": ["Not a token this API issued."]})


def _model_field(model, path: str):
    """The model field at ``path`` (``"created_at"``, ``"asset__created_at"``)."""
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name)


def _decode(token: str, model, fields: list[str]) -> list:
    """The ordering values in ``token``, each parsed by its model field, so that a
    forged or damaged token is a 400 and never reaches the database as garbage."""
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise _bad_token() from None
    if (not isinstance(values, list) or len(values) != len(fields)
            or not all(isinstance(v, str) for v in values)):
        raise _bad_token()
    try:
        return [_model_field(model, f.lstrip("-")).to_python(v)
                for f, v in zip(fields, values, strict=True)]
    except (DjangoValidationError, ValueError, TypeError, OverflowError):
        raise _bad_token() from None


def _after(fields: list[str], values: list) -> Q:
    """Rows after ``values`` in the order of ``fields`` ("-f" = descending).

    ``(a < x) OR (a = x AND b < y)`` alone is only a filter to PostgreSQL: an index on
    ``a`` is then read from the first row, so page N scanned N pages of rows
    (bench/api.py: 40 ms at row 50,000 of 100,000). The redundant ``a <= x`` in front
    is an index condition that starts the scan at the cursor."""
    q = Q()
    for i, field in enumerate(fields):
        name = field.lstrip("-")
        step = Q(**{f"{name}__lt" if field.startswith("-") else f"{name}__gt": values[i]})
        for prev, value in zip(fields[:i], values[:i], strict=False):
            step &= Q(**{prev.lstrip("-"): value})
        q |= step
    first = fields[0]
    bound = f"{first.lstrip('-')}__{'lte' if first.startswith('-') else 'gte'}"
    return Q(**{bound: values[0]}) & q


def page_params(query) -> tuple[int, str | None, int | None]:
    """``(pageSize, pageToken, skip)`` from the query, with the aliases ``PageSize``,
    ``PageToken.Cursor`` and ``PageToken.Skip``. Raises ValidationFailed."""
    raw_size = query.get("pageSize", query.get("PageSize", str(DEFAULT_PAGE_SIZE)))
    raw_skip = query.get("PageToken.Skip")
    errors = {}
    if not _WHOLE.fullmatch(raw_size) or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        errors["pageSize"] = [f"A whole number from 1 to {MAX_PAGE_SIZE}."]
    if raw_skip is not None and (
        not _WHOLE.fullmatch(raw_skip) or int(raw_skip) > MAX_SKIP
    ):
        errors["PageToken.Skip"] = [f"A whole number from 0 to {MAX_SKIP}."]
    if errors:
        raise ValidationFailed("The paging parameters are invalid.", errors=errors)
    token = query.get("pageToken") or query.get("PageToken.Cursor") or None
    return int(raw_size), token, int(raw_skip) if raw_skip is not None else None


def _value(row, path: str):
    return functools.reduce(getattr, path.split("__"), row)


def paginate(
    queryset: QuerySet, query, fields: list[str], render, prepare=None
) -> dict:
    """One page of ``queryset`` ordered by ``fields`` (non-null fields, the last one
    unique), as ``{"items", "nextPageToken", "totalCount"}``. The cursor holds the
    last row's ordering values, so pages stay stable while rows are inserted: a row
    is neither missed nor repeated. ``render`` is a serializer class (preferred: one
    instance renders the page with ``many=True``; a serializer per row deep-copies
    every declared field again, ~0.5 ms a row) or a function row → dict.
    ``prepare(rows)``, when given, runs once per page before ``render`` (e.g. to load
    what every row needs in one query). Raises ValidationFailed for bad paging
    parameters or a pageToken this API did not issue."""
    size, token, skip = page_params(query)
    ordered = queryset.order_by(*fields)
    total = queryset.count()
    page_qs = ordered
    if token:
        page_qs = page_qs.filter(_after(fields, _decode(token, queryset.model, fields)))
    elif skip:
        page_qs = page_qs[skip:]
    rows = list(page_qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if prepare is not None:
        prepare(rows)
    next_token = None
    if more and rows:
        next_token = _encode([_value(rows[-1], f.lstrip("-")) for f in fields])
    if isinstance(render, type) and issubclass(render, BaseSerializer):
        items = render(rows, many=True).data
    else:
        items = [render(r) for r in rows]
    return {"items": items, "nextPageToken": next_token, "totalCount": total}
