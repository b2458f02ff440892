"""FrozenMap: the read-only mapping that frozen values hold instead of a dict.

A frozen dataclass holding a ``dict`` is frozen only at its top level: ``genome.new_states["h"]
= ...`` would change a value that others share (a cached zoo cell, a study's genome). A
FrozenMap has no mutating methods, keeps insertion order, compares equal to any mapping with
the same items (a dict included), hashes when its values do, and pickles and copies (unlike
:class:`types.MappingProxyType`), so values holding one still cross process boundaries
(multiprocessing spawn, Ray).

>>> m = FrozenMap({"h": "h_new"})
>>> m["h"], m == {"h": "h_new"}
('h_new', True)
>>> m["h"] = "x"
Traceback (most recent call last):
...
TypeError: 'FrozenMap' object does not support item assignment
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["FrozenMap"]


class FrozenMap(Mapping[K, V]):
    """A read-only mapping; build it from a mapping or from ``(key, value)`` pairs."""

    __slots__ = ("_data",)
    _data: dict[K, V]

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = (), /) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"'FrozenMap' object is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"'FrozenMap' object is read-only (cannot delete {name!r})")

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: K, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenMap[K, V]], tuple[dict[K, V]]]:
        return (type(self), (dict(self._data),))
