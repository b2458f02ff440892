"""Suites: several experiments run as one, each on its own task, with one report that puts
their verdicts side by side.

A suite file is an experiment file (in ``experiments/`` or anywhere) that binds ``SUITE``
instead of ``EXPERIMENT``::

    from lstm_search.suite import Part, Suite

    SUITE = Suite(
        name="seed_systems",
        description="...",
        parts=(Part("seed_clockwork", baselines=("rnn_tanh", "lstm", "gru")),
               Part("seed_grid")),
    )

Each part names an experiment (a catalogue name or a path) and the cells its comparison is
made against (``baselines``); the cells under test are ``cells``, by default the first cell of
the part's space.
``lstm-search run SUITE`` runs the parts one after the other, each an ordinary run folder
``OUT/<suite>/<RUN>/<experiment>/<RUN>`` (its own study, record check and resume), with the
suite's ``--smoke``/``--paper`` mode, ``--set`` values and workers applied to every part;
``lstm-search report OUT/<suite>/<RUN>`` writes each part's report and the suite's summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_search.config import ConfigError, check_path_name
from lstm_search.declarations import (
    EXPERIMENTS,
    DeclarationError,
    binds,
    catalogue_names,
    find_declaration,
    import_declaration,
)

SUITE_FILE = "suite.json"  # the suite run's record, in OUT/<suite>/<RUN>/
SUITE_FORMAT = "lstm-search-suite"


@dataclass(frozen=True)
class Part:
    """One experiment of a suite: the cells under test (``cells``; empty: the first cell of the
    experiment's space) and the cells they are compared against (``baselines``)."""

    experiment: str
    baselines: tuple[str, ...] = ("lstm", "gru")
    cells: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "baselines", tuple(self.baselines))
        object.__setattr__(self, "cells", tuple(self.cells))
        if not all(isinstance(c, str) and c for c in self.cells):
            raise ConfigError(f"suite part {self.experiment!r}: cells must be a tuple of cell "
                              f"names, got {self.cells!r}")
        both = set(self.cells) & set(self.baselines)
        if both:
            raise ConfigError(f"suite part {self.experiment!r}: {', '.join(sorted(both))} "
                              "is both a cell under test and a baseline")
        if not isinstance(self.experiment, str) or not self.experiment:
            raise ConfigError(f"a suite part needs an experiment name or path, got "
                              f"{self.experiment!r}")
        if not self.baselines or not all(isinstance(b, str) and b for b in self.baselines):
            raise ConfigError(f"suite part {self.experiment!r}: baselines must be a non-empty "
                              f"tuple of cell names, got {self.baselines!r}")


@dataclass(frozen=True)
class Suite:
    """Experiments run as one: ``parts`` in order, one report over them all."""

    name: str
    parts: tuple[Part, ...]
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        check_path_name(self.name, "suite name")
        if not self.parts:
            raise ConfigError(f"suite {self.name!r} has no parts")
        bad = [p for p in self.parts if not isinstance(p, Part)]
        if bad:
            raise ConfigError(f"suite {self.name!r}: every part must be a "
                              f"lstm_search.suite.Part, got {type(bad[0]).__name__}")
        seen: set[str] = set()
        for p in self.parts:
            if p.experiment in seen:
                raise ConfigError(f"suite {self.name!r} names experiment {p.experiment!r} "
                                  "twice")
            seen.add(p.experiment)


def is_suite(name_or_path: str | Path) -> bool:
    """Whether ``name_or_path`` (a catalogue name or a path) is a suite file; False when no
    such file exists (the experiment loader then reports it)."""
    try:
        path = find_declaration(name_or_path, EXPERIMENTS, "experiment")
    except DeclarationError:
        return False
    return binds(path, "SUITE")


def suite_names() -> list[str]:
    """The suites of the catalogue (``experiments/`` files that bind ``SUITE``)."""
    from lstm_search.declarations import catalogue_dir

    folder = catalogue_dir(EXPERIMENTS)
    return [n for n in catalogue_names(EXPERIMENTS) if binds(folder / f"{n}.py", "SUITE")]


def load_suite(name_or_path: str | Path) -> Suite:
    """``SUITE`` of a suite file (or a name in ``experiments/``); raises
    :class:`~lstm_search.declarations.DeclarationError` naming the file when it is missing or
    binds no :class:`Suite`."""
    path = find_declaration(name_or_path, EXPERIMENTS, "experiment")
    suite = import_declaration(path, "SUITE", "suite")
    if not isinstance(suite, Suite):
        raise DeclarationError(f"{path}: SUITE must be a lstm_search.suite.Suite, got "
                               f"{type(suite).__name__}")
    return suite


def read_suite_record(suite_dir: str | Path) -> dict[str, Any]:
    """The ``suite.json`` of a suite run folder; raises ValueError naming the file when it
    cannot be read or is not a suite record."""
    path = Path(suite_dir) / SUITE_FILE
    try:
        if path.stat().st_size > 1_000_000:
            raise ValueError(f"{path}: larger than 1 MB; not a suite record")
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the suite record: {e}") from None
    parts = record.get("parts") if isinstance(record, dict) else None
    if (record.get("format") != SUITE_FORMAT if isinstance(record, dict) else True) or \
            not isinstance(parts, list) or not all(
                isinstance(p, dict) and isinstance(p.get("run_dir"), str)
                and isinstance(p.get("baselines"), list)
                and isinstance(p.get("cells"), list) for p in parts):
        raise ValueError(f"{path}: not a suite record (format {SUITE_FORMAT!r} with a list "
                         "of parts, each with run_dir, cells and baselines)")
    for p in parts:
        rel = Path(p["run_dir"])
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"{path}: part folder {p['run_dir']!r} is not inside the suite "
                             "folder")
    return record


__all__ = [
    "SUITE_FILE",
    "SUITE_FORMAT",
    "Part",
    "Suite",
    "is_suite",
    "load_suite",
    "read_suite_record",
    "suite_names",
]
