"""Declarations: the short Python files that bind ``EXPERIMENT`` or ``SPACE``, and the shipped
catalogue of named ones.

A declaration is the user's own code, trusted like a configuration file written in Python: it
is imported from its path with :func:`importlib.util.spec_from_file_location`, never evaluated
from a string. Named declarations are the modules of the catalogue packages
``lstm_search.catalogue.experiments`` and ``lstm_search.catalogue.search_spaces``; in the source
tree they are the top-level ``experiments/`` and ``search_spaces/`` folders, which
``pyproject.toml`` maps to those packages (so an installed wheel carries them).

Only the standard library is imported here: :mod:`lstm_search.experiment` and
:mod:`lstm_search.spaces` both load their files through this module.
"""

from __future__ import annotations

import ast
import difflib
import importlib.resources
import importlib.util
import sys
from pathlib import Path
from typing import Any

CATALOGUE = "lstm_search.catalogue"
EXPERIMENTS = "experiments"  # catalogue folder of the experiment declarations
SEARCH_SPACES = "search_spaces"  # catalogue folder of the search-space declarations


class DeclarationError(ValueError):
    """A declaration file that cannot be found, imported or read; the message names the file.

    :class:`lstm_search.experiment.ExperimentError` is this class, so code that catches
    ``ExperimentError`` catches every declaration problem (of a space too).
    """


def catalogue_dir(folder: str) -> Path:
    """The folder of the shipped declarations of one kind (``experiments`` or
    ``search_spaces``): the package ``lstm_search.catalogue.<folder>`` where installed.

    A source checkout whose editable install predates the mapping (or that is on ``sys.path``
    without an install) has no such package; its folder is then the top-level one beside the
    ``lstm_search`` package, the folder the mapping points to.
    """
    if folder not in (EXPERIMENTS, SEARCH_SPACES):
        raise ValueError(f"no catalogue folder {folder!r}; choose {EXPERIMENTS!r} or "
                         f"{SEARCH_SPACES!r}")
    try:
        return Path(str(importlib.resources.files(f"{CATALOGUE}.{folder}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / folder


def catalogue_names(folder: str) -> list[str]:
    """Names of the declarations in the catalogue folder ``folder`` (files ``_*.py`` are not
    declarations)."""
    return sorted(p.stem for p in catalogue_dir(folder).glob("*.py")
                  if not p.name.startswith("_"))


def find_declaration(name_or_path: str | Path, folder: str, kind: str) -> Path:
    """The file of a declaration: ``name_or_path`` itself when it is a path (ends in ``.py`` or
    names a folder), else ``<name>.py`` in the catalogue folder ``folder``.

    Raises :class:`DeclarationError` naming where it looked and the known names.
    """
    p = Path(name_or_path)
    if p.suffix == ".py" or p.parent != Path("."):
        if not p.is_file():
            raise DeclarationError(f"{kind} file not found: {p}")
        return p
    where = catalogue_dir(folder)
    candidate = where / f"{name_or_path}.py"
    if not candidate.is_file():
        names = list(catalogue_names(folder))
        close = difflib.get_close_matches(str(name_or_path), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DeclarationError(f"no {kind} named {str(name_or_path)!r} in {where}; "
                               f"{hint}known: {', '.join(names) or '(none)'}")
    return candidate


def binds(path: Path, attr: str) -> bool:
    """Whether the Python file ``path`` assigns ``attr`` at its top level, read with
    :mod:`ast` (parsed, never run): tells a suite file (``SUITE``) from an experiment file
    (``EXPERIMENT``) without importing either. False for a file that cannot be read or
    parsed (importing it reports why)."""
    try:
        if path.stat().st_size > 1_000_000:  # a declaration is a short file
            return False
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return True
    return False


def import_declaration(path: Path, attr: str, kind: str) -> Any:
    """Import the Python file ``path`` as a module and return its ``attr``.

    The file is the user's own declaration (trusted like a configuration file); it is imported
    with :func:`importlib.util.spec_from_file_location`, nothing is evaluated from strings. Any
    error while importing (syntax error, a failing import, an exception) becomes a
    :class:`DeclarationError` naming the file.
    """
    mod_name = f"_lstm_search_{kind}_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise DeclarationError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(mod_name, None)
        raise DeclarationError(f"{path}:{e.lineno}: syntax error in {kind} file: "
                               f"{e.msg}") from None
    except (Exception, SystemExit) as e:  # sys.exit() in the file must not end the caller
        sys.modules.pop(mod_name, None)
        raise DeclarationError(f"{path}: error while importing the {kind} file: "
                               f"{type(e).__name__}: {e}") from e
    if not hasattr(module, attr):
        raise DeclarationError(f"{path}: the {kind} file defines no {attr} "
                               f"(expected `{attr} = ...` at the top level)")
    return getattr(module, attr)


__all__ = [
    "CATALOGUE",
    "EXPERIMENTS",
    "SEARCH_SPACES",
    "DeclarationError",
    "binds",
    "catalogue_dir",
    "catalogue_names",
    "find_declaration",
    "import_declaration",
]
