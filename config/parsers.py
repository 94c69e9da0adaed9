"""The API's JSON parser: DRF's, plus a body nested too deeply for Python's parser.

``json.load`` recurses once per ``[`` or ``{``; a body such as ``"[" * 100000`` raises
RecursionError, which is no ValueError, so DRF's parser let it through as a 500. It is
a malformed body like any other (400 ``malformed-request``, docs/api.md)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

NESTED_TOO_DEEPLY = "JSON parse error - the body is nested too deeply."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        """The parsed body. Raises ParseError (400 malformed-request) for invalid
        JSON, also for one nested deeper than the interpreter's recursion limit."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(NESTED_TOO_DEEPLY) from None
