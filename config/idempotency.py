"""Safe retries of POSTs with an ``Idempotency-Key`` header (issue 3; the header of
the IETF draft "The Idempotency-Key HTTP Header Field").

Decorate a handler of a ``TenantAPIView``::

    @idempotent
    def post(self, request, tenant): ...

Without the header the handler just runs. With it, keys are scoped to the user and the
tenant, and for 24 hours:

- the first request runs, and its successful (2xx) response is stored with a hash of
  the request (method, path, query, body — multipart files by their SHA-256);
- the same key with the same request returns that stored response, with the header
  ``Idempotent-Replayed: true``, without running the handler again;
- the same key with a different request is a 422 Problem Details.

The record is inserted before the handler runs, in the same transaction as the
handler's writes. A concurrent retry with the same key therefore waits on the
record's unique index until the first request ends, then replays its response (or
runs, if the first one failed): the work is never done twice. Errors (4xx/5xx) are
not stored, so a retry after fixing a request with the same key runs it. A
response that shows a secret once stores and replays ``response.replay_data``
instead, the secret left out.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from config.errors import ApplicationError, ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(ApplicationError):
    status = 422
    code = "idempotency-key-reused"
    title = "Idempotency key reused"


def request_fingerprint(request) -> str:
    """SHA-256 (hex) of the request's method, path, query and parsed body: a JSON body
    canonically (so member order and spacing do not matter), multipart fields by
    value and files by name, size and content hash. Parses the body (ParseError:
    400)."""
    h = hashlib.sha256()
    files = getattr(request, "FILES", None) or {}
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict: form fields, with files merged in
        fields = sorted((k, v) for k, vs in data.lists() if k not in files for v in vs)
    else:
        fields = data
    file_digests = []
    for name in sorted(files):
        for f in files.getlist(name):
            fh = hashlib.sha256()
            for chunk in f.chunks():
                fh.update(chunk)
            f.seek(0)
            file_digests.append([name, f.name, f.size, fh.hexdigest()])
    canonical = {
        "method": request.method,
        "path": request.path,
        "query": sorted(request.query_params.lists()),
        "data": fields,
        "files": file_digests,
    }
    h.update(json.dumps(canonical, sort_keys=True, cls=DjangoJSONEncoder).encode())
    return h.hexdigest()


def _key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters; "
            "a UUID is a good choice.",
            errors={HEADER: ["Invalid key."]},
        )
    return key


def _replay(record) -> Response:
    return Response(
        record.response_body,
        status=record.response_status,
        headers={REPLAYED_HEADER: "true"},
    )


def idempotent(handler):
    """Decorator for a ``TenantAPIView`` handler (``self.membership`` set): honour
    ``Idempotency-Key`` as the module docstring says. Raises ValidationFailed for a
    malformed key and IdempotencyKeyReused (422) for a key reused with another
    request."""
    from operations_app.models import IdempotencyRecord

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = _key(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        fingerprint = request_fingerprint(request)
        scope = {
            "user_id": request.user.pk,
            "tenant_id": view.membership.tenant_id,
            "key": key,
        }
        with transaction.atomic():
            IdempotencyRecord.objects.filter(
                created_at__lt=timezone.now() - LIFETIME
            ).delete()
            try:
                with transaction.atomic():
                    # response_status 0 is never committed: the row is completed or
                    # deleted in this transaction.
                    record = IdempotencyRecord.objects.create(
                        **scope, request_hash=fingerprint, response_status=0
                    )
            except IntegrityError:
                record = IdempotencyRecord.objects.get(**scope)
                if record.request_hash != fingerprint:
                    raise IdempotencyKeyReused(
                        f"The {HEADER} {key!r} was used within the last 24 hours for a "
                        "different request; use a new key for a new request.",
                    ) from None
                return _replay(record)
            response = handler(view, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                record.response_status = response.status_code
                # What is shown once (a webhook's URL and secret) is neither stored
                # nor replayed: such a response sets ``replay_data`` without it.
                record.response_body = getattr(response, "replay_data", response.data)
                record.save(update_fields=["response_status", "response_body"])
            else:
                record.delete()
        return response

    return wrapper
