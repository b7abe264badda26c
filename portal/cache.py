"""A Redis cache for rate-limit counters that fails open.

Rate limits protect the portal; they must not take it down. If Redis is unreachable, counting
stops and requests go through (RATELIMIT_FAIL_OPEN), instead of every API call and patient page
failing with a connection error. Shares requested meanwhile wait in the database for the broker.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
_last_warning = 0.0


def _warn(operation: str) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:  # once a minute, not once a request
        _last_warning = time.monotonic()
        log.warning("rate-limit cache unavailable (%s); limits are not enforced until it is back", operation)


class FailOpenRedisCache(RedisCache):
    def add(self, *args, **kwargs):
        try:
            return super().add(*args, **kwargs)
        except RedisError:
            _warn("add")
            return False

    def incr(self, *args, **kwargs):
        try:
            return super().incr(*args, **kwargs)
        except RedisError:
            _warn("incr")
            raise ValueError("cache unavailable") from None  # django-ratelimit reads this as "no count"

    def get(self, *args, **kwargs):
        try:
            return super().get(*args, **kwargs)
        except RedisError:
            _warn("get")
            return None
