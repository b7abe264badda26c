"""List pagination with bounds: a page of at most 200 rows, an offset the database can take."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

# Far past any real list, far below PostgreSQL's bigint OFFSET limit: an offset above it would
# return the same empty page, so it is answered as that page instead of a database error.
MAX_OFFSET = 10**12


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 200

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
