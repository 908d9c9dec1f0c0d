"""Verified JWTs, remembered until they expire: the hot path pays a dictionary lookup, not an HMAC and a
JSON parse per request. Bounded: past `max_entries`, expired entries go first, then the oldest; a token
longer than MAX_TOKEN_CHARS is verified every time rather than kept (memory stays entries x that)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rgw.auth.caller import Caller

MAX_TOKEN_CHARS = 4096


class VerifiedTokens:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock  # wall clock: `exp` is seconds since the epoch
        self._entries: dict[str, Caller] = {}

    def get(self, token: str) -> Caller | None:
        caller = self._entries.get(token)
        if caller is None:
            return None
        expires_at = caller.expires_at
        if expires_at is not None and expires_at < self._clock():
            del self._entries[token]
            return None
        return caller

    def put(self, token: str, caller: Caller) -> None:
        if caller.expires_at is None or len(token) > MAX_TOKEN_CHARS:
            return  # nothing verified may be trusted forever; a huge token is not worth its memory
        if token not in self._entries and len(self._entries) >= self._max:
            self._make_room()
        self._entries[token] = caller

    def _make_room(self) -> None:
        now = self._clock()
        expired = [t for t, c in self._entries.items() if c.expires_at is not None and c.expires_at < now]
        for token in expired:
            del self._entries[token]
        if len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]  # the oldest: dictionaries keep insertion order

    def __len__(self) -> int:
        return len(self._entries)
