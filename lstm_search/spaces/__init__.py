"""Search spaces: define-by-run sampling of cells and hyperparameters.

A space (:class:`SearchSpace`) samples parameters on an Optuna trial and rebuilds a
:class:`Proposal` (genome, cell name, hyperparameters) from them; the same space serves a plain
Optuna study and Ray Tune's ``OptunaSearch``. Named spaces live in the shipped catalogue (the
top-level ``search_spaces/`` folder, installed as ``lstm_search.catalogue.search_spaces``) and
load with :func:`load_space`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstm_search.declarations import (
    SEARCH_SPACES,
    DeclarationError,
    catalogue_dir,
    catalogue_names,
    find_declaration,
    import_declaration,
)
from lstm_search.spaces._dist import (
    Choice,
    Dist,
    Fixed,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    Uniform,
    sample_all,
    values_of,
)
from lstm_search.spaces._space import (
    Proposal,
    SearchSpace,
    cell_name,
    distributions_of,
    suggest,
)
from lstm_search.spaces._spaces import (
    CellChoiceSpace,
    MutationSpace,
    RandomGraphSpace,
    TemplateSpace,
    space_from_json,
    space_to_json,
)


def spaces_dir() -> Path:
    """The folder of the shipped search spaces (``lstm_search.catalogue.search_spaces``)."""
    return catalogue_dir(SEARCH_SPACES)


def space_names() -> list[str]:
    """Names of the search spaces in the shipped catalogue."""
    return catalogue_names(SEARCH_SPACES)


def load_space(name_or_path: str | Path) -> Any:
    """The ``SPACE`` declared in the catalogue's ``<name>.py`` (or in the given file).

    Raises :class:`lstm_search.declarations.DeclarationError` (which is
    :class:`lstm_search.experiment.ExperimentError`) naming the file.
    """
    path = find_declaration(name_or_path, SEARCH_SPACES, "search space")
    space = import_declaration(path, "SPACE", "search space")
    if not isinstance(space, SearchSpace):
        raise DeclarationError(f"{path}: SPACE must be a SearchSpace, got {type(space).__name__}")
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
    "distributions_of",
    "load_space",
    "sample_all",
    "space_from_json",
    "space_names",
    "space_to_json",
    "spaces_dir",
    "suggest",
    "values_of",
]
