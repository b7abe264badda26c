"""A Redis cache for rate-limit counters that fails open.

Rate limits protect the portal; they must not take it down. If Redis is unreachable, counting
stops and requests go through (RATELIMIT_FAIL_OPEN), instead of every API call and patient page
failing with a connection error. Shares requested meanwhile wait in the database for the broker.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
_last_warning = 0.0


def _warn(operation: str) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:  # once a minute, not once a request
        _last_warning = time.monotonic()
        log.warning("rate-limit cache unavailable (%s); limits are not enforced until it is back", operation)


class ReusingRedisCacheClient(RedisCacheClient):
    """Django builds a new redis.Redis object (and its table of response callbacks) for every cache
    call; the rate limiter makes two per request. A client is thread-safe over its pool, so keep
    one per pool."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class FailOpenRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
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
