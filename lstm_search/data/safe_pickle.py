"""A restricted pickle reader for the Boulanger-Lewandowski music files.

The polyphonic-music corpora (Boulanger-Lewandowski et al., ICML 2012) are distributed as
pickles. ``pickle.load`` can run arbitrary code: a pickle names Python callables (globals) and
the loader calls them. This reader refuses every global except numpy's scalar reconstruction
(``numpy.core.multiarray.scalar`` and ``numpy.dtype``), which czhuang's
``jsb-chorales-quarter.pkl`` needs because its notes are ``numpy.int64``. Even those two are
replaced by checking stand-ins: only plain numeric dtypes (bool, int, uint, float) are built,
and a scalar comes back as a Python ``int``/``float``/``bool``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from lstm_search.data._errors import DataError, UnsafePickleError

__all__ = ["ALLOWED_GLOBALS", "load_pickle", "loads_pickle"]

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


def loads_pickle(data: bytes, *, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the restricted loader; ``source`` names it in error messages."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
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
    ) as e:
        raise DataError(f"{source}: not a readable pickle ({type(e).__name__}: {e})") from None


def load_pickle(path: str | Path) -> Any:
    """Unpickle the file at ``path`` with the restricted loader (see the module docstring)."""
    path = Path(path)
    return loads_pickle(path.read_bytes(), source=str(path))
