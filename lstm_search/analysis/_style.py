"""Shared look of the figures: lazy matplotlib/seaborn set-up, colours, robust axis limits.

Figures are built on :class:`matplotlib.figure.Figure` directly (not pyplot), so making one
leaves no global state behind and needs no display; styles are applied with context managers.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

# verdict colours (colour-blind safe: blue / vermilion / greys)
COLORS = {
    "baseline": "#3a3a3a",
    "better": "#2c7fb8",
    "worse": "#d95f02",
    "no significant difference": "#c8c8c8",
    "inconclusive": "#c8c8c8",
    "equivalent": "#c8c8c8",
    "not applicable": "#efefef",
    "insufficient data": "#efefef",
    "points": "#1f1f1f",
    "mean": "#c0392b",
    "front": "#d95f02",
    "cloud": "#9ecae1",
}


def lazy_matplotlib() -> tuple[Any, Any]:
    """Import seaborn and matplotlib's Figure; choose the Agg backend unless one is chosen.

    Jupyter kernels set ``MPLBACKEND`` (inline); scripts and the CLI get Agg, which needs no
    display.
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import seaborn as sns
    from matplotlib.figure import Figure

    return sns, Figure


@contextlib.contextmanager
def style(font_scale: float = 0.9) -> Iterator[Any]:
    """Seaborn's whitegrid style and notebook context, for the duration of one figure."""
    sns, _ = lazy_matplotlib()
    import matplotlib

    rc = {"axes.titleweight": "bold", "axes.titlesize": 11, "figure.dpi": 100,
          "savefig.bbox": "tight", "font.family": ["DejaVu Sans"], **PLAIN_TEXT}
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=font_scale), \
            matplotlib.rc_context(rc):
        yield sns


# names from the table (cells, tasks, hyperparameters) are text, never TeX: a cell named
# "$\\frac{$" must neither break a figure nor be typeset
PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}


def plain_text(fig: Any) -> Any:
    """``fig`` with mathtext and TeX off for every text artist it holds."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
        text.set_usetex(False)
    return fig


def new_figure(width: float, height: float) -> Any:
    """A constrained-layout Figure not registered with pyplot, whose text is never read as
    mathtext or TeX, also where it is drawn (tick labels are made while drawing, a notebook
    draws outside :func:`style`)."""
    lazy_matplotlib()
    return _plain_text_figure()(figsize=(width, height), layout="constrained")


@functools.cache
def _plain_text_figure() -> Any:
    import matplotlib
    from matplotlib.figure import Figure

    class PlainTextFigure(Figure):
        def draw(self, renderer: Any) -> Any:
            with matplotlib.rc_context(PLAIN_TEXT):
                plain_text(self)
                return super().draw(renderer)

        def get_tightbbox(self, *args: Any, **kwargs: Any) -> Any:
            with matplotlib.rc_context(PLAIN_TEXT):
                plain_text(self)
                return super().get_tightbbox(*args, **kwargs)

    return PlainTextFigure


def robust_limits(v: np.ndarray, *, k: float = 3.0, pad: float = 0.05
                  ) -> tuple[float, float, int]:
    """Axis limits showing the bulk of ``v``: [q25 - k IQR, q75 + k IQR] within [min, max],
    padded; also how many values fall outside (diverged trials would squash the rest)."""
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0, 0
    q25, q75 = np.quantile(v, [0.25, 0.75])
    iqr = q75 - q25
    lo = max(v.min(), q25 - k * iqr) if iqr > 0 else v.min()
    hi = min(v.max(), q75 + k * iqr) if iqr > 0 else v.max()
    span = hi - lo or (abs(hi) * 0.1 or 1.0)
    outside = int(((v < lo) | (v > hi)).sum())
    return lo - pad * span, hi + pad * span, outside


def grouped_limits(groups: list[np.ndarray], *, k: float = 3.0, pad: float = 0.05,
                   min_n: int = 8) -> tuple[float, float, int]:
    """Axis limits that show every group's bulk: the union over groups of [q25 - k IQR,
    q75 + k IQR] (a group's whole range when it has fewer than ``min_n`` values, as quartiles of
    a handful of trials clip real data), within the overall range; plus how many values fall
    outside. One cell's diverged trials then cannot squash the others, and a cell far from the
    rest is not cut off by a pooled quantile."""
    parts = [np.asarray(g, float)[np.isfinite(np.asarray(g, float))] for g in groups]
    parts = [g for g in parts if g.size]
    if not parts:
        return 0.0, 1.0, 0
    lows, highs = [], []
    for g in parts:
        q25, q75 = np.quantile(g, [0.25, 0.75])
        iqr = q75 - q25
        if g.size < min_n or iqr == 0:
            lows.append(g.min())
            highs.append(g.max())
        else:
            lows.append(max(g.min(), q25 - k * iqr))
            highs.append(min(g.max(), q75 + k * iqr))
    lo, hi = min(lows), max(highs)
    every = np.concatenate(parts)
    span = hi - lo or (abs(hi) * 0.1 or 1.0)
    outside = int(((every < lo) | (every > hi)).sum())
    return lo - pad * span, hi + pad * span, outside


def wants_log(v: np.ndarray) -> bool:
    """A log axis for positive values spanning more than a decade."""
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() > 10)


def direction_label(metric: str, direction: str) -> str:
    return f"{metric} ({'lower' if direction == 'minimize' else 'higher'} is better)"


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (Agg canvas)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def cell_palette(cells: list[str], baselines: tuple[str, ...] | list[str] = ("lstm", "gru")
                 ) -> dict[str, Any]:
    """Colours per cell, the baselines first so that LSTM and GRU look the same in every
    figure of a report."""
    sns, _ = lazy_matplotlib()
    ordered = [b for b in baselines if b in cells] + [c for c in cells if c not in baselines]
    colors = sns.color_palette("tab10" if len(ordered) <= 10 else "tab20", len(ordered))
    return dict(zip(ordered, colors))


def readable_log_axis(axis: Any, v: np.ndarray) -> None:
    """Plain tick labels (20, 50, 100, 200k ...) on a log axis spanning fewer than three
    decades; powers of ten otherwise (learning rates)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    v = np.asarray(v, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0 or v.max() / v.min() >= 1000:
        # matplotlib's own labels are TeX ($10^{-3}$), shown raw with math text off
        axis.set_major_locator(LogLocator(base=10))
        axis.set_major_formatter(FuncFormatter(lambda x, _: power_of_ten(x)))
        axis.set_minor_formatter(NullFormatter())
        return
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: compact_number(x)))
    axis.set_minor_formatter(NullFormatter())


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x: float) -> str:
    """10⁻³ for 0.001 (plain Unicode, no TeX); other values as compact numbers."""
    if x > 0:
        exponent = math.log10(x)
        if abs(exponent - round(exponent)) < 1e-9:
            e = round(exponent)
            return compact_number(x) if 0 <= e <= 3 else "10" + str(e).translate(_SUPERSCRIPT)
    return compact_number(x)


def compact_number(x: float) -> str:
    """20, 500, 5k, 200k, 1M: short tick labels for counts such as parameters."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def spaced_labels(ax: Any, xs: np.ndarray, ys: np.ndarray, *, min_px: float = 14.0
                  ) -> np.ndarray:
    """Mask of points whose labels would not overlap earlier ones (in display pixels)."""
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    keep = np.zeros(len(xs), bool)
    placed: list[np.ndarray] = []
    for i, p in enumerate(pts):
        if all(abs(p[1] - q[1]) > min_px or abs(p[0] - q[0]) > 5 * min_px for q in placed):
            keep[i] = True
            placed.append(p)
    return keep
