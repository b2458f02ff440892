"""A restricted pickle reader for the Boulanger-Lewandowski music files.

The polyphonic-music corpora (Boulanger-Lewandowski et al., ICML 2012) are distributed as
pickles. ``pickle.load`` can run arbitrary code: a pickle names Python callables (globals) and
the loader calls them. This reader refuses every global except numpy's scalar reconstruction
(``numpy.core.multiarray.scalar`` and ``numpy.dtype``), which czhuang's
``jsb-chorales-quarter.pkl`` needs because its notes are ``numpy.int64``. Even those two are
replaced by checking stand-ins: only plain numeric dtypes (bool, int, uint, float) are built,
and a scalar comes back as a Python ``int``/``float``/``bool``.

A pickle can also exhaust memory without running code: its memo lets a few bytes reference one
list many times, and the reader of the data (a piano roll per piece) expands every reference.
So the file is refused above :data:`MAX_PICKLE_BYTES`, and the loaded structure above
:data:`MAX_ITEMS` items, counted with every reference counted again (a list referenced 1,000
times counts 1,000 times); a structure that contains itself is refused too.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from lstm_search.data._errors import DataError, UnsafePickleError

__all__ = ["ALLOWED_GLOBALS", "MAX_ITEMS", "MAX_PICKLE_BYTES", "counted_items", "load_pickle",
           "loads_pickle"]

# the largest music pickle (MuseData) is 6 MB and about 2 million items
MAX_PICKLE_BYTES = 256 * 1024 * 1024
MAX_ITEMS = 50_000_000

# (module, name) pairs a pickle may name; everything else is refused.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "scalar"),  # numpy < 2 spelling (Python 2 era pickles)
        ("numpy._core.multiarray", "scalar"),  # numpy >= 2 spelling
        ("numpy", "dtype"),
    }
)

# numpy dtype codes a pickle may ask for: booleans, signed/unsigned ints, floats
_NUMERIC_DTYPES = frozenset(
    {"b1", "?"} | {f"{k}{n}" for k in "iu" for n in (1, 2, 4, 8)} | {"f2", "f4", "f8"}
)


def _safe_dtype(obj: Any, align: Any = False, copy: Any = False) -> Any:
    """Stand-in for ``numpy.dtype`` used while unpickling: numeric dtypes only."""
    import numpy as np

    if not isinstance(obj, str) or obj not in _NUMERIC_DTYPES:
        raise UnsafePickleError(
            f"pickle asks for numpy dtype {obj!r}; only plain numeric dtypes are allowed"
        )
    return np.dtype(obj)


def _safe_scalar(dtype: Any, data: Any = None) -> int | float | bool:
    """Stand-in for ``numpy.core.multiarray.scalar``: a numeric scalar as a Python number."""
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.kind not in "biuf":
        raise UnsafePickleError(f"pickle asks for a numpy scalar of dtype {dtype!r}")
    if isinstance(data, str):  # Python 2 byte strings arrive as latin-1 decoded str
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError(
            f"pickle gives a numpy {dtype} scalar with {type(data).__name__} data of the wrong size"
        )
    return np.frombuffer(data, dtype=dtype)[0].item()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        # latin1: Python 2 pickles store numpy scalar bytes as 8-bit str
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return _safe_dtype if name == "dtype" else _safe_scalar
        raise UnsafePickleError(
            f"{self._source}: refused to load: the pickle asks for the Python global "
            f"{module}.{name}, which could run code. Only plain data (lists, dicts, numbers) and "
            "numpy numeric scalars are accepted. If you trust this file, convert it to JSON."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: refused to load: persistent id {pid!r}")


def _children(x: Any) -> tuple[Any, ...] | None:
    if isinstance(x, list | tuple | set | frozenset):
        return tuple(x)
    if isinstance(x, dict):
        return (*x.keys(), *x.values())
    return None


def counted_items(obj: Any, limit: int = MAX_ITEMS, *, source: str = "<data>") -> int:
    """How many items ``obj`` holds when every reference is expanded (a container counts 1
    plus its children's counts, a scalar 1); linear in the number of distinct containers and
    references, however often they are shared. Raises :class:`DataError` above ``limit`` or
    for a container that contains itself."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # containers being counted: the path from the root
    stack: list[tuple[Any, bool]] = [(obj, False)]
    while stack:
        x, done = stack.pop()
        children = _children(x)
        if children is None:
            continue
        key = id(x)
        if done:
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            if total > limit:
                raise DataError(f"{source}: refused to load: the data expands to more than "
                                f"{limit:,} items (shared references counted each time; the "
                                f"cap is MAX_ITEMS)")
            sizes[key] = total
            open_.discard(key)
            continue
        if key in sizes:
            continue
        if key in open_:
            raise DataError(f"{source}: refused to load: the data contains itself")
        open_.add(key)
        stack.append((x, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(obj), 1)


def loads_pickle(data: bytes, *, source: str = "<bytes>", max_items: int = MAX_ITEMS) -> Any:
    """Unpickle ``data`` with the restricted loader; ``source`` names it in error messages.
    Data larger than :data:`MAX_PICKLE_BYTES`, or expanding to more than ``max_items`` items,
    is refused with :class:`DataError`."""
    if len(data) > MAX_PICKLE_BYTES:
        raise DataError(f"{source}: refused to load: {len(data):,} bytes is more than the cap "
                        f"of {MAX_PICKLE_BYTES:,} bytes for a pickle (MAX_PICKLE_BYTES)")
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), source).load()
        counted_items(obj, max_items, source=source)
        return obj
    except UnsafePickleError as e:
        msg = str(e)
        if not msg.startswith(source):
            msg = f"{source}: refused to load: {msg}"
        raise UnsafePickleError(msg) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        RecursionError,
    ) as e:
        raise DataError(f"{source}: not a readable pickle ({type(e).__name__}: {e})") from None


def load_pickle(path: str | Path) -> Any:
    """Unpickle the file at ``path`` with the restricted loader (see the module docstring)."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_PICKLE_BYTES:
        raise DataError(f"{path}: refused to load: {size:,} bytes is more than the cap of "
                        f"{MAX_PICKLE_BYTES:,} bytes for a pickle (MAX_PICKLE_BYTES)")
    return loads_pickle(path.read_bytes(), source=str(path))
