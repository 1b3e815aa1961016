"""Postbacks rate-limited per network and source IP after repeated refusals.

``REFUSAL_LIMIT`` refused postbacks (400 or 403) naming one network from one IP within a fixed window of
``REFUSAL_WINDOW_SECONDS`` put that pair under limit until the window ends: every postback from it, even
a correct one, is then answered 429 ``rate_limited`` and logged, without being authenticated or read.
A prober thus gets ``REFUSAL_LIMIT`` guesses per window; a network whose integration sends bad postbacks
gets 429s for the rest of the window, and its retries go through in the next one. The pair is the
``network=`` value as sent and the keyed hash of the IP, so nobody can put another address under limit.

The counts live in Redis (one counter per pair and window, ``INCR``), and so does the list of pairs under
limit (a sorted set scored by the end of their window), because every process must honour them. Checking
must not cost the hot path a Redis round trip, so each process keeps a copy of that list and reads it
again at most every ``REFRESH_SECONDS``: a limit another process set applies here within that second,
one set here applies at once. Without Redis nothing is limited (and a warning is logged): postbacks keep
flowing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import redis
from flask import Flask

from contentflow.queueing import redis_connection

log = logging.getLogger(__name__)

EXTENSION_KEY = "contentflow.postback_limits"
REFUSAL_LIMIT = 20
REFUSAL_WINDOW_SECONDS = 600
REFRESH_SECONDS = 1.0
COUNTER_PREFIX = "contentflow:postback-refusals:"
LIMITED_KEY = "contentflow:postback-limited"


def pair_of(network_name: str, ip_hash: str) -> str:
    """The Redis member naming a (network, IP) pair (the name hashed: it is whatever was sent)."""
    return f"{ip_hash}:{hashlib.sha256(network_name.encode()).hexdigest()[:16]}"


class RefusalLimiter:
    """The limits as one process sees them."""

    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        #: pair -> end of its window (epoch seconds)
        self._limited: dict[str, float] = {}
        self._read_at = float("-inf")

    def is_limited(self, network_name: str, ip_hash: str) -> bool:
        """Whether postbacks naming ``network_name`` from this IP are under limit now."""
        now = self._clock()
        if now - self._read_at >= REFRESH_SECONDS:
            self._read(now)
        until = self._limited.get(pair_of(network_name, ip_hash))
        return until is not None and until > now

    def count_refusal(self, network_name: str, ip_hash: str) -> bool:
        """Count one refusal of the pair; True when it has now reached the limit (and is limited)."""
        now = self._clock()
        window = int(now // REFUSAL_WINDOW_SECONDS)
        until = (window + 1) * REFUSAL_WINDOW_SECONDS
        pair = pair_of(network_name, ip_hash)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(f"{COUNTER_PREFIX}{window}:{pair}")
            pipe.expire(f"{COUNTER_PREFIX}{window}:{pair}", REFUSAL_WINDOW_SECONDS)
            count = pipe.execute()[0]
            if count < REFUSAL_LIMIT:
                return False
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(LIMITED_KEY, {pair: until})
            pipe.zremrangebyscore(LIMITED_KEY, "-inf", now)
            pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("postback refusals not counted: Redis failed (%s)", error)
            return False
        self._limited[pair] = until
        return True

    def _read(self, now: float) -> None:
        try:
            rows = self._redis.zrangebyscore(LIMITED_KEY, now, "+inf", withscores=True)
        except (redis.RedisError, OSError) as error:
            log.warning("postback limits not read: Redis failed (%s)", error)
            rows = None
        self._read_at = now
        if rows is not None:
            self._limited = {_text(pair): until for pair, until in rows}

    def forget(self) -> None:
        """Drop this process's copy (read again on the next check)."""
        self._limited = {}
        self._read_at = float("-inf")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


_creating = threading.Lock()


def limiter_of(app: Flask) -> RefusalLimiter:
    """The app's limiter in this process."""
    limiter = app.extensions.get(EXTENSION_KEY)
    if limiter is None:
        with _creating:
            limiter = app.extensions.setdefault(EXTENSION_KEY, RefusalLimiter(redis_connection(app)))
    return limiter
