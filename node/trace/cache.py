"""A least-recently-used cache bounded by bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteBudgetCache(Generic[K, V]):
    def __init__(self, budget: int, size_of: Callable[[V], int]) -> None:
        self.budget = budget
        self.size_of = size_of
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.used = 0
        self.evictions = 0

    def get(self, key: K) -> V | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        self._items.move_to_end(key)
        return hit[0]

    def put(self, key: K, value: V) -> None:
        size = self.size_of(value)
        if key in self._items:
            self.used -= self._items.pop(key)[1]
        if size > self.budget:
            return  # larger than the whole budget: not cached, recomputed when asked again
        self._items[key] = (value, size)
        self.used += size
        while self.used > self.budget:
            _, (_, s) = self._items.popitem(last=False)
            self.used -= s
            self.evictions += 1

    def __contains__(self, key: K) -> bool:
        return key in self._items
