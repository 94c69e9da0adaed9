"""RFC 9457 Problem Details for every API error (API.md "Errors").

``type`` is a stable URI per error kind (``/v1/problems/<code>``, listed in
docs/api.md), ``title`` the kind's name, ``status``, ``detail`` a sentence saying what
to do, ``instance`` the request path, ``requestId`` the id in the logs, plus
``errors`` (field → messages) on validation failures and ``retryAfter`` (s) on 429."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken

from config.errors import ApplicationError, PayloadTooLarge

logger = logging.getLogger("ragdesk.api")
CONTENT_TYPE = "application/problem+json"

_DRF_KINDS: list[tuple[type, str, str]] = [
    (drf.NotAuthenticated, "unauthenticated", "Authentication required"),
    (drf.AuthenticationFailed, "unauthenticated", "Authentication required"),
    (drf.PermissionDenied, "forbidden", "Forbidden"),
    (drf.NotFound, "not-found", "Not found"),
    (drf.MethodNotAllowed, "method-not-allowed", "Method not allowed"),
    (drf.NotAcceptable, "not-acceptable", "Not acceptable"),
    (drf.UnsupportedMediaType, "unsupported-media-type", "Unsupported media type"),
    (drf.Throttled, "rate-limited", "Too many requests"),
    (drf.ParseError, "malformed-request", "Malformed request"),
    (drf.ValidationError, "validation-failed", "Validation failed"),
]


def problem(request, *, status: int, code: str, title: str, detail: str, **extra) -> dict:
    body = {
        "type": f"/v1/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path if request is not None else None,
    }
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["requestId"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
                for k, v in detail.items()}
    return {"nonFieldErrors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


_HINTS_401 = {
    drf.NotAuthenticated: "Send 'Authorization: Bearer <token>' with a JWT from "
    "POST /v1/auth/token or a personal API token.",
    InvalidToken: "Get a new one with POST /v1/auth/token or /v1/auth/token:refresh.",
}


def _sentence(detail) -> str:
    """A human sentence from a DRF ``detail``. simplejwt's InvalidToken carries a dict
    (``{"detail", "code", "messages"}``) whose ``str()`` is a Python repr."""
    if isinstance(detail, dict):
        detail = detail.get("detail") or next(iter(detail.values()), "")
    if isinstance(detail, list):
        detail = " ".join(str(m) for m in detail)
    return str(detail)


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error becomes Problem Details."""
    request = context.get("request")
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = drf.NotFound(str(exc) or "No such object.")
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(too_large_detail())
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = drf.ParseError(f"{exc} Send fewer parts.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied(str(exc) or None)
    if isinstance(exc, ApplicationError):
        body = problem(request, status=exc.status, code=exc.code, title=exc.title,
                       detail=exc.message, errors=exc.errors or None,
                       **getattr(exc, "extra", {}))
        status = exc.status
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, drf.APIException):
        code, title = next(
            ((c, t) for cls, c, t in _DRF_KINDS if isinstance(exc, cls)),
            ("error", "Error"),
        )
        status = exc.status_code
        extra = {}
        if isinstance(exc, drf.ValidationError):
            extra["errors"] = _flatten(exc.detail)
            detail = "The request is invalid; see errors for each field."
        else:
            detail = _sentence(exc.detail)
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            extra["retryAfter"] = int(exc.wait + 0.999)
            headers["Retry-After"] = str(extra["retryAfter"])
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="ragdesk"'
            hint = _HINTS_401.get(type(exc), "")
            detail = f"{detail.rstrip('.')}. {hint}".strip()
        body = problem(request, status=status, code=code, title=title, detail=detail, **extra)
    else:
        logger.exception("unhandled API error (request %s)", getattr(request, "request_id", "-"))
        status = 500
        body = problem(request, status=500, code="internal-error", title="Internal error",
                       detail="Something went wrong on our side; quote requestId when "
                       "reporting it.")
    set_rollback()
    return Response(body, status=status, headers=headers, content_type=CONTENT_TYPE)


def json_problem_response(request, status: int, code: str, title: str, detail: str):
    """A Problem Details response outside DRF (Django's 404/500 handlers, 413)."""
    return JsonResponse(problem(request, status=status, code=code, title=title, detail=detail),
                        status=status, content_type=CONTENT_TYPE)


def too_large_detail() -> str:
    """What to do about a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (bytes), which
    Django refuses (RequestDataTooBig) when the body, files aside, is read."""
    mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1_048_576
    return (
        f"The request body is larger than {mb:g} MB (files of a multipart upload "
        "aside); send less data in one request."
    )
