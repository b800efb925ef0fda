"""A cache bounded by bytes, not by count: what the inference worker keeps (models, timelines, context spaces,
learning curves) is evicted least recently used first once the estimated bytes of its entries pass a bound."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import fields, is_dataclass
from typing import Callable

import numpy as np

# A NumPy network is its float32 weights and a one-hot table: MODEL_OVERHEAD_BYTES is counted for each beside
# its weights.
MODEL_OVERHEAD_BYTES = 64 * 1024
SMALL_BYTES = 64             # anything without arrays: None, a number, an error


def estimate_bytes(value) -> int:
    """Memory a cached value holds, estimated: a network's parameters x 4 (float32) plus MODEL_OVERHEAD_BYTES,
    arrays' nbytes, and the sum over a dataclass's fields or a container's items."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if hasattr(value, "count_params"):  # a network
        return 4 * value.count_params() + MODEL_OVERHEAD_BYTES
    if is_dataclass(value) and not isinstance(value, type):
        return sum(estimate_bytes(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, (list, tuple)):
        return sum(estimate_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(estimate_bytes(item) for item in value.values())
    return SMALL_BYTES


class ByteCache:
    """Values by key, the least recently used evicted first, while their estimated bytes pass `max_bytes`. The
    newest entry is always kept, even one alone over the bound (it is what a request asked for)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.total_bytes = 0
        self._entries: OrderedDict = OrderedDict()  # key -> (value, its estimated bytes)

    def __contains__(self, key) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key):
        """The value of `key` (KeyError if absent), now the most recently used."""
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def put(self, key, value, nbytes: int | None = None):
        """Keep `value` under `key` (its size estimated unless given), then evict the least recently used entries
        while the total passes the bound. Returns the value."""
        self.pop(key)
        size = estimate_bytes(value) if nbytes is None else nbytes
        self._entries[key] = (value, size)
        self.total_bytes += size
        while self.total_bytes > self.max_bytes and len(self._entries) > 1:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.total_bytes -= evicted
        return value

    def get_or_make(self, key, make: Callable[[], object]):
        return self.get(key) if key in self._entries else self.put(key, make())

    def pop(self, key) -> None:
        if key in self._entries:
            self.total_bytes -= self._entries.pop(key)[1]

    def items(self) -> list[tuple]:
        """(key, value) pairs, the least recently used first."""
        return [(key, value) for key, (value, _) in self._entries.items()]

    def has_room(self) -> bool:
        """Whether one more entry as big as the biggest held fits without evicting any."""
        biggest = max((size for _, size in self._entries.values()), default=0)
        return self.total_bytes + biggest <= self.max_bytes
