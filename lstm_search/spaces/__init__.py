"""Search spaces: define-by-run sampling of cells and hyperparameters.

A space (:class:`SearchSpace`) samples parameters on an Optuna trial and rebuilds a
:class:`Proposal` (genome, cell name, hyperparameters) from them; the same space serves a plain
Optuna study and Ray Tune's ``OptunaSearch``. Named spaces live in the repository's
``search_spaces/`` folder and load with :func:`load_space`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstm_search.spaces._dist import (
    Choice,
    Dist,
    Fixed,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    Uniform,
)
from lstm_search.spaces._space import Proposal, SearchSpace, cell_name, suggest
from lstm_search.spaces._spaces import (
    CellChoiceSpace,
    MutationSpace,
    RandomGraphSpace,
    TemplateSpace,
)

SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"


def space_names() -> list[str]:
    """Names of the declared spaces in the repository's ``search_spaces/`` folder."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.py") if not p.name.startswith("_"))


def load_space(name_or_path: str | Path) -> Any:
    """The ``SPACE`` declared in ``search_spaces/<name>.py`` (or in the given file)."""
    from lstm_search.experiment import ExperimentError, import_declaration

    p = Path(name_or_path)
    path = p if p.suffix == ".py" else SPACES_DIR / f"{name_or_path}.py"
    if not path.is_file():
        raise ExperimentError(f"no search space {str(name_or_path)!r} (looked for {path}); "
                              f"known: {', '.join(space_names())}")
    space = import_declaration(path, "SPACE", "search space")
    if not isinstance(space, SearchSpace):
        raise ExperimentError(f"{path}: SPACE must be a SearchSpace, got {type(space).__name__}")
    return space


__all__ = [
    "CellChoiceSpace",
    "Choice",
    "Dist",
    "Fixed",
    "IntUniform",
    "LogUniform",
    "MutationSpace",
    "OneMinusLogUniform",
    "Proposal",
    "RandomGraphSpace",
    "SearchSpace",
    "TemplateSpace",
    "Uniform",
    "cell_name",
    "load_space",
    "space_names",
    "suggest",
]
