"""Request ids: every request gets one (or keeps a sane incoming ``X-Request-ID``); it
is returned in the ``X-Request-ID`` header, logged with errors and put in Problem
Details bodies, so a user can quote it."""

import re
import uuid

_SAFE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
