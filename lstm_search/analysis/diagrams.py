"""Cell diagrams of the top cells, drawn by :func:`lstm_search.analysis.cell_png.draw_png`
when matplotlib is installed (drawing is optional; without it the report leaves diagrams out).
A zoo cell is drawn with its own node names, as ``lstm-search show --png`` draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_search.analysis.cell_png import draw_png
from lstm_search.genome import Genome, genome_id


def cell_drawer() -> tuple[Callable[..., Any] | None, str]:
    """:func:`~lstm_search.analysis.cell_png.draw_png` if matplotlib imports, else None and
    the reason."""
    try:
        import matplotlib  # noqa: F401  (drawn with it; imported here only to ask)
    except ImportError as e:
        return None, f"cell drawing is not available ({type(e).__name__}: {e})"
    return draw_png, ""


def named_genome(recorded: Genome, cell: str) -> Genome:
    """The zoo's genome of ``cell`` when it is the recorded one (same ``genome_id``): the table
    keeps the canonical form (internal names ``s0``, ``n7``), the zoo the cell's own names
    (``h``, ``z_pre``) that ``lstm-search show --png`` draws; else ``recorded``."""
    from lstm_search import zoo

    if cell not in zoo.names(spatial=True):
        return recorded
    own = zoo.get(cell)
    return own if genome_id(own) == genome_id(recorded) else recorded


def draw_cells(df: pd.DataFrame, cells: list[str], out_dir: str | Path
               ) -> tuple[dict[str, Path], list[str]]:
    """Draw the genome of each named cell to ``out_dir/cell-<name>.png``.

    Returns the drawn files by cell and notes for cells that could not be drawn (no
    matplotlib, a genome that does not parse, a drawing error); never raises for those.
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
            genome = named_genome(Genome.from_json(str(rows["genome"].iloc[0])), cell)
            draw(genome, path, title=cell)
        except Exception as e:  # a drawing failure must not stop the report
            notes.append(f"{cell}: could not draw ({type(e).__name__}: {e})")
            continue
        if path.exists():
            drawn[cell] = path
        else:
            notes.append(f"{cell}: draw_png wrote no file")
    return drawn, notes
