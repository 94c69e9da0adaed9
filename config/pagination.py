"""Keyset pagination of every API list (API.md "Conventions": ``pageSize``,
``pageToken`` and the aliases; the envelope ``{items, nextPageToken, totalCount}``).

A pageToken is signed (``django.core.signing``, SECRET_KEY) for one list: the salt
holds the queryset's model, its WHERE clause with the values (tenant, asset, filters,
search term) and the order. It carries the cursor (the last row's ordering values)
and the ``totalCount`` counted on the first page, so later pages do not count again.
A token that was altered, or is sent with another tenant, list or filters, is a 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime

from django.core import signing
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework.serializers import BaseSerializer

from config.errors import ValidationFailed

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_SKIP = 1_000_000_000
# ASCII digits only: str.isdigit() accepts "²", which int() refuses.
_WHOLE = re.compile(r"[0-9]{1,10}")


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


# -- tokens ----------------------------------------------------------------------------
def _signer(queryset: QuerySet, fields: list[str]) -> signing.Signer:
    """A signer whose salt is the list itself: the model, the WHERE clause with its
    values (the tenant, the asset, every filter) and the order. Compiling the WHERE
    clause alone costs ~15 µs; a filter a caller adds is covered without being named."""
    query = queryset.query
    try:
        where, params = query.get_compiler(queryset.db).compile(query.where)
    except FullResultSet:  # no filter at all
        where, params = "", []
    except EmptyResultSet:  # a filter nothing can match
        where, params = "FALSE", []
    scope = json.dumps(
        [query.model._meta.label, where, [str(p) for p in params], fields]
    )
    return signing.Signer(salt=f"ragdesk.pageToken:{scope}")


def _bad_token() -> ValidationFailed:
    return ValidationFailed(
        "The pageToken is not valid for this list; start from the first page.",
        errors={
            "pageToken": [
                "Not a token this API issued for this list with these filters."
            ]
        },
    )


def _value(row, path: str):
    """The value at ``path`` (``"created_at"``, ``"asset__created_at"``) of a model
    instance, or of a ``values()`` row."""
    if isinstance(row, Mapping):
        return row[path]
    for name in path.split("__"):
        row = getattr(row, name)
    return row


def page_token(queryset: QuerySet, fields: list[str], row, total: int) -> str:
    """The pageToken of the page after ``row`` of ``queryset`` ordered by ``fields``,
    carrying ``total`` as the listing's totalCount: URL-safe base64 JSON, a colon and
    an HMAC-SHA256 signature (``django.core.signing``)."""
    values = [_value(row, f.lstrip("-")) for f in fields]
    cursor = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return _signer(queryset, fields).sign_object({"k": cursor, "n": total})


def _model_field(model, path: str):
    """The model field at ``path`` (``"created_at"``, ``"asset__created_at"``)."""
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name)


def _decode(token: str, queryset: QuerySet, fields: list[str]) -> tuple[list, int]:
    """``(ordering values, totalCount)`` of a token issued for this very list. The
    values are parsed by their model fields as well, so that even a token signed
    with a leaked key never reaches the database as garbage. Raises ValidationFailed."""
    try:
        payload = _signer(queryset, fields).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise _bad_token() from None
    cursor, total = (
        (payload.get("k"), payload.get("n")) if isinstance(payload, dict) else (0, 0)
    )
    if (
        not isinstance(cursor, list)
        or len(cursor) != len(fields)
        or not all(isinstance(v, str) for v in cursor)
        or type(total) is not int
        or total < 0
    ):
        raise _bad_token()
    try:
        values = [
            _model_field(queryset.model, f.lstrip("-")).to_python(v)
            for f, v in zip(fields, cursor, strict=True)
        ]
    except (DjangoValidationError, ValueError, TypeError, OverflowError):
        raise _bad_token() from None
    return values, total


def _after(fields: list[str], values: list) -> Q:
    """Rows after ``values`` in the order of ``fields`` ("-f" = descending).

    ``(a < x) OR (a = x AND b < y)`` alone is only a filter to PostgreSQL: an index on
    ``a`` is then read from the first row, so page N scanned N pages of rows
    (bench/api.py: 40 ms at row 50,000 of 100,000). The redundant ``a <= x`` in front
    is an index condition that starts the scan at the cursor."""
    q = Q()
    for i, field in enumerate(fields):
        name = field.lstrip("-")
        op = "lt" if field.startswith("-") else "gt"
        step = Q(**{f"{name}__{op}": values[i]})
        for prev, value in zip(fields[:i], values[:i], strict=False):
            step &= Q(**{prev.lstrip("-"): value})
        q |= step
    first = fields[0]
    bound = f"{first.lstrip('-')}__{'lte' if first.startswith('-') else 'gte'}"
    return Q(**{bound: values[0]}) & q


# -- the page --------------------------------------------------------------------------
def paginate(
    queryset: QuerySet, query, fields: list[str], render, prepare=None
) -> dict:
    """One page of ``queryset`` (model instances or ``values()`` dicts) ordered by
    ``fields`` (non-null fields, the last one unique), as ``{"items",
    "nextPageToken", "totalCount"}``.

    The cursor holds the last row's ordering values, so pages stay stable while rows
    are inserted: a row is neither missed nor repeated. ``totalCount`` is counted
    when a listing starts (no pageToken; a ``count(*)``, ~3 ms per 100,000 rows,
    skipped when the page holds the rest of the rows) and then carried in the
    tokens: it is the count as of the first page. The count runs on ``queryset``
    as given, joins included: put per-row lookups in subqueries, not joins.

    ``render`` is a serializer class (one instance renders the page with
    ``many=True``; a serializer per row deep-copies every declared field again,
    ~0.5 ms a row) or a function row → dict. ``prepare(rows)``, when given, runs once
    per page before ``render`` (e.g. to load what every row needs in one query).
    Raises ValidationFailed for bad paging parameters, or a pageToken this API did
    not issue for this list (another tenant, list, filter or search; altered)."""
    size, token, skip = page_params(query)
    page_qs = queryset.order_by(*fields)
    total = None
    if token:
        values, total = _decode(token, queryset, fields)
        page_qs = page_qs.filter(_after(fields, values))
    elif skip:
        # OFFSET would compute the SELECT list (subqueries too) of every skipped row:
        # find the row before the page by its ordering values alone (an index-only
        # scan where an index fits), then go on as from a cursor.
        names = [f.lstrip("-") for f in fields]
        before = list(page_qs.values_list(*names)[skip - 1 : skip])
        page_qs = page_qs.filter(_after(fields, list(before[0]))) if before else None
    rows = list(page_qs[: size + 1]) if page_qs is not None else []
    more = len(rows) > size
    rows = rows[:size]
    if total is None:
        # A page that ends the list (and is not past its end) gives the count.
        ends = not more and (rows or not skip)
        total = (skip or 0) + len(rows) if ends else queryset.count()
    if prepare is not None:
        prepare(rows)
    next_token = page_token(queryset, fields, rows[-1], total) if more else None
    if isinstance(render, type) and issubclass(render, BaseSerializer):
        items = render(rows, many=True).data
    else:
        items = [render(r) for r in rows]
    return {"items": items, "nextPageToken": next_token, "totalCount": total}
