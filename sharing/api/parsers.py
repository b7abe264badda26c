"""The REST API's JSON parser, bounded: body size and nesting depth.

DRF's JSONParser reads the whole body whatever its size (only MAX_UPLOAD_BYTES stops it) and lets
a body nested 100,000 deep raise RecursionError, a 500. Ours answers both with 400.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

# Deeper than any request body of this API needs (the deepest is a list of ids, depth 2).
MAX_JSON_DEPTH = 32


class BoundedJSONParser(JSONParser):
    """JSON bodies of at most API_JSON_MAX_BYTES, nested at most MAX_JSON_DEPTH deep."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_JSON_MAX_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise ParseError(f"The JSON body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(body.decode(encoding), parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
        except ValueError as exc:  # includes UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
        if nesting_depth(data, stop_at=MAX_JSON_DEPTH + 1) > MAX_JSON_DEPTH:
            raise ParseError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
        return data


def nesting_depth(value, *, stop_at: int) -> int:
    """How deep lists and objects nest in a parsed JSON value, counting no further than `stop_at`.

    Iterative, so a deep value cannot exhaust the stack here either.
    """
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, (list, dict)):
            continue
        deepest = max(deepest, depth)
        if deepest >= stop_at:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
    return deepest
