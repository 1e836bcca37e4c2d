"""The native API's JSON parser: DRF's, plus the one malformed body DRF lets through as a 500."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            # `[[[[…` thousands deep exhausts the decoder's stack; DRF only turns ValueError into a ParseError.
            raise ParseError("JSON parse error - nested too deeply.") from exc
