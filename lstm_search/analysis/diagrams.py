"""Cell diagrams of the top cells, drawn by :func:`lstm_search.genome.draw.draw_png` when the
installed package provides it (drawing is optional; without it the report leaves diagrams out).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def cell_drawer() -> tuple[Callable[[Any, Path], Any] | None, str]:
    """``lstm_search.genome.draw.draw_png`` if importable, else None and the reason."""
    try:
        module = importlib.import_module("lstm_search.genome.draw")
    except Exception as e:  # any import failure means: no drawing here
        return None, f"cell drawing is not available ({type(e).__name__}: {e})"
    draw = getattr(module, "draw_png", None)
    if not callable(draw):
        return None, "lstm_search.genome.draw has no draw_png(genome, path)"
    return draw, ""


def _genome(text: str) -> Any:
    """The genome object for a canonical genome JSON string (the ``genome`` column)."""
    genome_mod = importlib.import_module("lstm_search.genome")
    cls = getattr(genome_mod, "Genome", None)
    for name in ("from_json", "loads"):
        fn = getattr(cls, name, None) or getattr(genome_mod, name, None)
        if callable(fn):
            return fn(text)
    from_dict = getattr(cls, "from_dict", None)
    if callable(from_dict):
        return from_dict(json.loads(text))
    raise AttributeError("lstm_search.genome has no Genome.from_json / from_dict")


def draw_cells(df: pd.DataFrame, cells: list[str], out_dir: str | Path
               ) -> tuple[dict[str, Path], list[str]]:
    """Draw the genome of each named cell to ``out_dir/cell-<name>.png``.

    Returns the drawn files by cell and notes for cells that could not be drawn (no drawing
    module, a genome that does not parse, a drawing error); never raises for those.
    """
    draw, why = cell_drawer()
    if draw is None:
        return {}, [why]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, Path] = {}
    notes: list[str] = []
    for cell in cells:
        rows = df[(df["cell"] == cell) & df["genome"].notna()] if "genome" in df else df.iloc[:0]
        if rows.empty:
            notes.append(f"{cell}: no genome recorded")
            continue
        path = out / f"cell-{''.join(ch if ch.isalnum() or ch in '-_' else '_' for ch in cell)}.png"
        try:
            genome = _genome(str(rows["genome"].iloc[0]))
            try:
                draw(genome, path, title=cell)  # type: ignore[call-arg]
            except TypeError:  # a draw_png(genome, path) without a title argument
                draw(genome, path)
        except Exception as e:  # a drawing failure must not stop the report
            notes.append(f"{cell}: could not draw ({type(e).__name__}: {e})")
            continue
        if path.exists():
            drawn[cell] = path
        else:
            notes.append(f"{cell}: draw_png wrote no file")
    return drawn, notes
