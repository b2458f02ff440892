"""Which design produced a task's trials: cells trained at shared settings (paired) or each trial
drawn on its own (independent samples).

A grid over fixed settings, a seed sweep or a search that evaluates every cell at the same
hyperparameter points trains each cell once per setting; the cells' results at one setting share
everything but the cell (learning rate, seed, data order), so comparing them setting by setting
removes the variance between settings (a paired design: signed-rank test, paired differences,
sign counts). A random search that draws hyperparameters afresh for every trial gives
independent samples (Mann-Whitney U, Welch).

The setting of a row is its ``hp.setting`` value when the search records one, else its
hyperparameters (every ``hp.*`` column) together with its ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_search.analysis._table import HP_PREFIX, completed

PAIRED = "paired"
INDEPENDENT = "independent"
SETTING_COLUMNS = ("hp.setting", "setting")  # an explicit setting index, when recorded


@dataclass(frozen=True)
class Design:
    """The design of one task's trials.

    Attributes:
        kind: ``"paired"`` or ``"independent"``.
        key: per row of the table it was detected on, the setting it was trained at (a string).
        columns: the columns the setting is read from.
        n_settings: distinct settings shared by at least two cells.
        reason: one sentence saying what was detected and why.
    """

    kind: str
    key: pd.Series
    columns: tuple[str, ...]
    n_settings: int
    reason: str

    @property
    def paired(self) -> bool:
        return self.kind == PAIRED


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"  # a value read back from JSON keeps its digits
    return str(value)


def setting_columns(df: pd.DataFrame) -> tuple[str, ...]:
    """The columns that name a row's setting: an explicit setting column, else every ``hp.*``
    column and ``seed``."""
    for column in SETTING_COLUMNS:
        if column in df.columns and df[column].notna().any():
            return (column,)
    hps = [c for c in df.columns if isinstance(c, str) and c.startswith(HP_PREFIX)
           and c != HP_PREFIX + "cell"]
    return (*hps, *(["seed"] if "seed" in df.columns else []))


def setting_keys(df: pd.DataFrame, columns: tuple[str, ...] | None = None) -> pd.Series:
    """Per row, a string naming its setting (see :func:`setting_columns`)."""
    cols = setting_columns(df) if columns is None else columns
    if not cols:
        return pd.Series(["-"] * len(df), index=df.index, dtype=object)
    return df[list(cols)].apply(lambda row: "|".join(_text(v) for v in row), axis=1
                                ).astype(object)


def detect_design(df: pd.DataFrame, *, min_shared: float = 0.5) -> Design:
    """The design of one task's rows (one setting label of :func:`task_groups`).

    Paired when at least two settings are each shared by two or more cells, no cell was run
    twice at one setting, and at least ``min_shared`` of the rows (all statuses: a failed trial
    does not change the plan) sit at a shared setting; independent otherwise.
    """
    columns = setting_columns(df)
    key = setting_keys(df, columns)
    cells = df["cell"].astype(str)
    named = ", ".join(f"`{c}`" for c in columns) or "nothing (no hyperparameter or seed column)"
    per_setting = cells.groupby(key).nunique()
    shared = per_setting[per_setting >= 2].index
    n_rows = len(df)
    on_shared = int(key.isin(shared).sum())
    repeats = sorted(set(cells[pd.Series(list(zip(cells, key)), index=df.index).duplicated()]))
    if len(shared) >= 2 and not repeats and on_shared >= min_shared * n_rows:
        n_cells = cells.nunique()
        everywhere = int((per_setting == n_cells).sum())
        reason = (f"paired: {on_shared} of {n_rows} trials sit at {len(shared)} settings that "
                  f"two or more cells share ({everywhere} settings have all {n_cells} cells); a "
                  f"setting is a row's {named}. Each cell is compared with a baseline at the "
                  "settings where both completed.")
        return Design(PAIRED, key, columns, len(shared), reason)
    if repeats:
        why = ("cells were trained more than once at one setting ("
               + ", ".join(f"`{c}`" for c in repeats[:5]) + "), so settings do not identify "
               "pairs")
    elif len(shared) == 1:
        why = (f"every shared trial sits at one setting (setting: {named}), so a cell has at "
               "most one trial to pair")
    elif not len(shared):
        why = f"no two cells share a setting (setting: {named})"
    else:
        why = (f"only {on_shared} of {n_rows} trials sit at a setting another cell shares "
               f"(setting: {named})")
    return Design(INDEPENDENT, key, columns, len(shared),
                  f"independent samples: {why}; cells are compared as independent samples.")


def paired_values(design: Design, df: pd.DataFrame, cell: str, baseline: str, metric: str
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The metric of ``cell`` and ``baseline`` at the settings where both completed, aligned:
    ``(cell values, baseline values, settings)``."""
    rows = completed(df, metric)
    key = design.key.reindex(rows.index)
    value = pd.to_numeric(rows[metric], errors="coerce")

    def by_setting(name: str) -> pd.Series:
        mask = (rows["cell"].astype(str) == name).to_numpy()
        return pd.Series(value[mask].to_numpy(float), index=key[mask].to_numpy())

    c, b = by_setting(cell), by_setting(baseline)
    common = [k for k in c.index if k in set(b.index)]
    return (c.loc[common].to_numpy(float), b.loc[common].to_numpy(float),
            [str(k) for k in common])
