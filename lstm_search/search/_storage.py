"""Optuna pieces chosen by the experiment: storage, sampler, pruner, directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstm_search.experiment import Experiment

STUDY_DB = "study.db"


def default_storage_url(run_dir: str | Path) -> str:
    """SQLite in the run folder: ``sqlite:////abs/path/results/<exp>/<run>/study.db``."""
    return f"sqlite:///{Path(run_dir).resolve() / STUDY_DB}"


def make_storage(url: str) -> Any:
    """An Optuna storage for ``url``.

    - ``sqlite:///path`` : SQLite, with a 60 s busy timeout so that several worker processes on
      one machine wait for each other's writes instead of failing with "database is locked";
    - ``journal:PATH`` or a path ending in ``.log`` : a journal file
      (``JournalStorage(JournalFileBackend(PATH))``), safe for processes on one machine and for
      machines sharing a file system that supports ``open(O_EXCL)`` locks;
    - ``postgresql://...`` / ``mysql://...`` : a database server, for many machines.
    """
    import optuna

    if url.startswith("journal:") or url.endswith(".log"):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = url[len("journal:"):] if url.startswith("journal:") else url
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(
            JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    if url.startswith("sqlite:"):
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    if "://" in url:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    raise ValueError(f"storage {url!r}: expected sqlite:///PATH, journal:PATH, a .log path, "
                     f"or a postgresql:// / mysql:// URL")


def directions(exp: Experiment) -> list[str]:
    """The study's directions: the task's, then a minimised cost for multi-objective runs."""
    from lstm_search.search._strategy import strategy_of

    first = strategy_of(exp).direction(exp)
    if exp.search.second_objective:
        return [first, "minimize"]
    return [first]


def make_sampler(exp: Experiment, seed: int) -> Any:
    import optuna

    kind = exp.search.sampler
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if kind == "grid":
        # every point once; trials already in the study (other workers, a resumed run) are
        # skipped, so parallel and resumed grids cover the grid without repeats. GridSampler
        # numbers its points after a shuffle by its seed: every process must use the same one
        return _ask_tell_grid_sampler()(grid_points(exp), seed=exp.seed)
    # random search, and the hyperparameters of the evolutionary strategy (Jozefowicz draws
    # each evaluation's settings at random)
    return optuna.samplers.RandomSampler(seed=seed)


ABANDONED = "abandoned"  # user attr of a trial whose driver died before its row was written


def _ask_tell_grid_sampler() -> Any:
    """Optuna's GridSampler without its ``study.stop()`` on the last point, which only works
    inside ``study.optimize`` (with ask/tell the run's trial budget, at most the grid's size,
    ends the search), and drawing only points no trial holds.

    A point is held by any trial that drew it, whatever its state, except an abandoned one
    (left running by a dead driver, finished as FAIL without a row: see ``sweep_stale``): its
    point is drawn again. A point the run's table has a row for is held too, whatever the
    study says (:meth:`record_in`): the record decides, so a study that lost or abandoned a
    trial whose row landed never has its point evaluated twice. Optuna's own rule, once every
    point has been started, hands out the points still running elsewhere; after a resume that
    evaluates a running point twice and leaves an abandoned one never run, so it is not used.
    Made once under this module's name, so that pickle finds it.
    """
    cls = globals().get("_GRID_SAMPLER")
    if cls is not None:
        return cls
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

        _record: tuple[Experiment, str] | None = None
        _keys: list[str | None] | None = None

        def record_in(self, exp: Experiment, run_dir: str | Path) -> None:
            """Count the points that ``run_dir``'s table has rows for as held."""
            self._record = (exp, str(run_dir))

        def _recorded_ids(self) -> set[int]:
            if self._record is None:
                return set()
            from lstm_search.results import ResultsWriter
            from lstm_search.search._missing import point_key, row_key

            exp, run_dir = self._record
            if self._keys is None:
                self._keys = [point_key(exp, dict(zip(self._param_names, values, strict=True)))
                              for values in self._all_grids]
            recorded = {row_key(r) for r in ResultsWriter(run_dir).rows()}
            return {i for i, key in enumerate(self._keys) if key is not None and key in recorded}

        def _get_unvisited_grid_ids(self, study: Any) -> list[int]:
            held = self._recorded_ids()
            for t in study._storage.get_all_trials(study._study_id, deepcopy=False):
                if "grid_id" not in t.system_attrs or not self._same_search_space(
                        t.system_attrs["search_space"]):
                    continue
                if not t.user_attrs.get(ABANDONED):
                    held.add(t.system_attrs["grid_id"])
            return sorted(set(range(self._n_min_trials)) - held)

    AskTellGridSampler.__module__ = __name__
    AskTellGridSampler.__qualname__ = "AskTellGridSampler"
    globals()["_GRID_SAMPLER"] = AskTellGridSampler
    return AskTellGridSampler


def __getattr__(name: str) -> Any:  # unpickling finds AskTellGridSampler here
    if name == "AskTellGridSampler":
        return _ask_tell_grid_sampler()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def grid_points(exp: Experiment) -> dict[str, list[Any]]:
    """The grid of a ``search.sampler = "grid"`` experiment (from its space's ``grid()``)."""
    grid = getattr(exp.space, "grid", None)
    if grid is None:
        raise ValueError(f"space {exp.space.name!r} cannot be enumerated for grid search")
    return grid()


def make_pruner(exp: Experiment) -> Any:
    import optuna

    if exp.search.pruner == "median" and not exp.search.second_objective:
        # no verdict before 4 trials finished, nor on a trial's first two epochs
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    if exp.search.pruner == "halving" and not exp.search.second_objective:
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def second_value(exp: Experiment, result: Any) -> float | None:
    """The cost objective of a multi-objective run: parameters, or seconds per 1k tokens."""
    if exp.search.second_objective == "n_params":
        return float(result.n_params) if result.n_params is not None else None
    if exp.search.second_objective == "step_time":
        tps = result.tokens_per_second
        return 1000.0 / tps if tps else None
    return None


__all__ = ["ABANDONED", "default_storage_url", "directions", "grid_points",
           "make_pruner", "make_sampler", "make_storage", "second_value"]
