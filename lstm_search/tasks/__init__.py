"""Tasks: data splits + model head + loss + metrics, looked up by name.

>>> from lstm_search.tasks import task_names
>>> "ptb" in task_names() and "recall" in task_names()
True

==============  ======================================  ===========  ==========
name            data                                    objective    direction
==============  ======================================  ===========  ==========
ptb             Penn Treebank, words (Zaremba 2014)     valid.ppl    minimize
ptb_char        Penn Treebank, characters               valid.bpc    minimize
wikitext2       WikiText-2, words (Merity 2016)         valid.ppl    minimize
jsb             JSB Chorales piano rolls                valid.nll    minimize
nottingham      Nottingham piano rolls                  valid.nll    minimize
musedata        MuseData piano rolls                    valid.nll    minimize
piano_midi      Piano-midi.de piano rolls               valid.nll    minimize
arithmetic      Jozefowicz 2015, synthetic              valid.acc    maximize
xml             Jozefowicz 2015, synthetic              valid.acc    maximize
memorize        Jozefowicz 2015, synthetic              valid.acc    maximize
adding          Hochreiter & Schmidhuber 1997           valid.mse    minimize
recall          long-lag recall, synthetic              valid.acc    maximize
mqar            Arora 2023 (Zoology), synthetic         valid.acc    maximize
selective_copy  Gu & Dao 2023 (Mamba), synthetic        valid.acc    maximize
parity          Delétang 2023, longer test strings      valid.acc    maximize
waveform        Koutník 2014, generation, synthetic     valid.nmse   minimize
moving_shapes   Shi 2015, next frame of bouncing        valid.bce    minimize
                squares, synthetic
==============  ======================================  ===========  ==========

The synthetic tasks' options (``task.seq_len``, ``task.n_pairs`` ...) are listed in
:mod:`lstm_search.tasks._synthetic`; ``moving_shapes`` (``task.seq_len``) in
:mod:`lstm_search.tasks._frames`.
"""

from __future__ import annotations

from collections.abc import Callable

from lstm_search.config import ConfigError, TaskConfig
from lstm_search.tasks._base import DATA_ENV, Batch, RNNFactory, Task, resolve_data_dir

__all__ = [
    "DATA_ENV",
    "OBJECTIVES",
    "TASKS",
    "Batch",
    "RNNFactory",
    "Task",
    "check_task_config",
    "make_task",
    "resolve_data_dir",
    "task_names",
    "task_objective",
]


def _lm(dataset: str, char_level: bool = False) -> Callable[[TaskConfig], Task]:
    def build(config: TaskConfig) -> Task:
        from lstm_search.tasks._corpus import LanguageModelTask

        return LanguageModelTask(config, dataset=dataset, char_level=char_level)

    return build


def _music(dataset: str) -> Callable[[TaskConfig], Task]:
    def build(config: TaskConfig) -> Task:
        from lstm_search.tasks._corpus import MusicTask

        return MusicTask(config, dataset=dataset)

    return build


def _frames(config: TaskConfig) -> Task:
    from lstm_search.tasks._frames import MovingShapesTask

    return MovingShapesTask(config)


def _generated(kind: str) -> Callable[[TaskConfig], Task]:
    def build(config: TaskConfig) -> Task:
        from lstm_search.tasks import _synthetic as s

        return s.SYNTHETIC[kind](config)

    return build


# name -> builder (TaskConfig -> Task); data is read when the task is built, not at import
TASKS: dict[str, Callable[[TaskConfig], Task]] = {
    "ptb": _lm("ptb"),
    "ptb_char": _lm("ptb_char", char_level=True),
    "wikitext2": _lm("wikitext2"),
    "jsb": _music("jsb"),
    "nottingham": _music("nottingham"),
    "musedata": _music("musedata"),
    "piano_midi": _music("piano_midi"),
    "arithmetic": _generated("arithmetic"),
    "xml": _generated("xml"),
    "memorize": _generated("memorize"),
    "adding": _generated("adding"),
    "recall": _generated("recall"),
    "mqar": _generated("mqar"),
    "selective_copy": _generated("selective_copy"),
    "parity": _generated("parity"),
    "waveform": _generated("waveform"),
    "moving_shapes": _frames,
}


# each task's objective and its direction, known without building the task (the table above;
# a test builds every synthetic task and checks it against this)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "ptb": ("valid.ppl", "minimize"), "ptb_char": ("valid.bpc", "minimize"),
    "wikitext2": ("valid.ppl", "minimize"), "jsb": ("valid.nll", "minimize"),
    "nottingham": ("valid.nll", "minimize"), "musedata": ("valid.nll", "minimize"),
    "piano_midi": ("valid.nll", "minimize"), "arithmetic": ("valid.acc", "maximize"),
    "xml": ("valid.acc", "maximize"), "memorize": ("valid.acc", "maximize"),
    "adding": ("valid.mse", "minimize"), "recall": ("valid.acc", "maximize"),
    "mqar": ("valid.acc", "maximize"), "selective_copy": ("valid.acc", "maximize"),
    "parity": ("valid.acc", "maximize"), "waveform": ("valid.nmse", "minimize"),
    "moving_shapes": ("valid.bce", "minimize"),
}


def task_names() -> tuple[str, ...]:
    return tuple(TASKS)


def task_objective(name: str) -> tuple[str, str]:
    """``(objective, direction)`` of the task ``name``, e.g. ``("valid.acc", "maximize")``,
    without reading or generating its data."""
    if name not in OBJECTIVES:
        raise ConfigError(f"task.name: unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return OBJECTIVES[name]


def check_task_config(config: TaskConfig) -> None:
    """Raise :class:`ConfigError` when ``config`` names no task, or sets an option (``task.gap``,
    ``task.n_pairs`` ...) its synthetic task does not take; cheap: no data is read or drawn.
    Ranges that depend on several options (``task.n_queries`` <= ``task.n_pairs``) are checked
    when the task is built."""
    if config.name not in TASKS:
        raise ConfigError(f"task.name: unknown task {config.name!r}; known tasks: "
                          f"{', '.join(TASKS)}")
    from lstm_search.tasks import _synthetic

    if config.name in _synthetic.SYNTHETIC:
        _synthetic.generator_params(config)
    elif config.name == "moving_shapes":
        from lstm_search.tasks._frames import check_options

        check_options(config)


def make_task(config: TaskConfig) -> Task:
    """The task named ``config.name``, with its data loaded (a missing file raises the data
    layer's :class:`~lstm_search.data.MissingDataError` naming the paths tried)."""
    try:
        builder = TASKS[config.name]
    except KeyError:
        raise ConfigError(f"task.name: unknown task {config.name!r}; known tasks: "
                          f"{', '.join(TASKS)}") from None
    return builder(config)
