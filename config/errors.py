"""The one family of application errors. Interfaces map them: the API to Problem
Details (RFC 9457) with ``status``; HTMX views show ``message`` inline."""


class ApplicationError(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(ApplicationError):
    """Missing, or belongs to another tenant: the two are never told apart."""

    status = 404
    code = "not-found"
    title = "Not found"


class PermissionDenied(ApplicationError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class ValidationFailed(ApplicationError):
    status = 400
    code = "validation-failed"
    title = "Validation failed"


class PayloadTooLarge(ApplicationError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ApplicationError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = "Conflict"


class EmbeddingFailed(ApplicationError):
    """The embedding provider failed or refused (its message is safe to show)."""

    status = 502
    code = "embedding-failed"
    title = "Embedding failed"
