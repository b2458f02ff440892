"""The one data-path rule: where every command, task and test looks for the corpora.

1. a folder given explicitly (``--data-dir DIR`` of ``run`` and ``train``, ``--set
   task.data_dir=DIR``, the ``data_dir`` argument of a loader; experiments name only the
   dataset);
2. else the environment variable ``LSTM_SEARCH_DATA``;
3. else ``./data`` (where ``lstm-search data download NAME --to data`` puts them).

>>> str(resolve_data_dir("corpora"))
'corpora'
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV", "DEFAULT_DATA_DIR", "data_dir_origin", "how_to_set_data_dir",
           "resolve_data_dir"]

DATA_ENV = "LSTM_SEARCH_DATA"
DEFAULT_DATA_DIR = "data"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir`` if given, else ``$LSTM_SEARCH_DATA``, else ``./data`` (relative paths stay
    relative: the caller resolves them where the working folder matters)."""
    if data_dir:
        return Path(data_dir).expanduser()
    value = os.environ.get(DATA_ENV)
    if value:
        return Path(value).expanduser()
    return Path(DEFAULT_DATA_DIR)


def data_dir_origin(data_dir: str | os.PathLike[str] | None = None) -> str:
    """Which step of the rule chose the folder, for messages."""
    if data_dir:
        return "given explicitly"
    if os.environ.get(DATA_ENV):
        return f"from {DATA_ENV}"
    return (f"the default ./{DEFAULT_DATA_DIR}: neither --data-dir (task.data_dir) nor "
            f"{DATA_ENV} is set")


def how_to_set_data_dir() -> str:
    """The sentence every missing-data message ends with."""
    return (f"point lstm-search at the folder holding the corpora with --data-dir DIR (run, "
            f"train, data), {DATA_ENV}=DIR or --set task.data_dir=DIR")
