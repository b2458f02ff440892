"""``run.json`` records the resolved experiment, its space as data; ``--resume``, worker
processes and Ray trials rebuild the experiment from that record, never from the declaration
files as they are now: editing a space file mid-study does not change the study (resume refuses,
or with ``--force`` warns and goes on with the recorded settings)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from search_helpers import fake_evaluate, rows, write_experiment

from lstm_search.experiment import Experiment, ExperimentError, experiment_names, load_experiment
from lstm_search.results import json_ready
from lstm_search.search import run_experiment

OLD = 'CellChoiceSpace(name="s", cells=("gru", "lstm"), hparams={"lr": Choice((0.05, 0.1))})'
NEW = 'CellChoiceSpace(name="s", cells=("gru", "lstm"), hparams={"lr": Choice((0.7, 0.9))})'


@pytest.mark.parametrize("name", experiment_names())
@pytest.mark.parametrize("smoke", [False, True])
def test_every_catalogue_experiment_is_rebuilt_exactly_from_its_record(name: str,
                                                                        smoke: bool) -> None:
    exp = load_experiment(name, smoke=smoke)
    record = json.loads(json.dumps(json_ready(exp.to_dict())))  # as run.json holds it
    assert record["space"]["data"]["__space__"] == type(exp.space).__name__
    again = Experiment.from_dict(record)
    for field in ("name", "space", "task", "model", "train", "search", "stages", "seed"):
        assert getattr(again, field) == getattr(exp, field), field
    assert again.to_dict() == exp.to_dict()


def test_a_record_without_space_data_is_refused_by_name() -> None:
    record = json_ready(load_experiment("quickstart").to_dict())
    record["space"]["data"] = None
    with pytest.raises(ExperimentError, match=r"run\.json.*only by its repr"):
        Experiment.from_dict(record, where="run.json")


def _first_run(tmp_path: Path, workers: int = 1) -> tuple[Path, Path]:
    path = write_experiment(tmp_path, space=OLD, search=f'trials=2, sampler="random", '
                                                       f'workers={workers}')
    out = tmp_path / "results"
    run_experiment(str(path), out=out, run="r", evaluate=fake_evaluate, stream=io.StringIO())
    # the declaration edited mid-study: its space, and the training (1 epoch -> 2)
    text = path.read_text()
    assert "epochs=1," in text
    path.write_text(text.replace(OLD, NEW).replace("epochs=1,", "epochs=2,"))
    return path, out


def test_resume_refuses_a_space_file_edited_mid_study(tmp_path: Path) -> None:
    path, out = _first_run(tmp_path)
    with pytest.raises(ExperimentError,
                       match=r"no longer declares.*space\.data\.hparams\.lr.*train\.epochs"):
        run_experiment(str(path), out=out, run="r", resume=True, trials=4,
                       evaluate=fake_evaluate, stream=io.StringIO())
    assert len(rows(out / "tiny" / "r")) == 2  # nothing written


def _forced_resume(path: Path, out: Path, **kw: Any) -> str:
    stream = io.StringIO()
    kw.setdefault("evaluate", fake_evaluate)
    run_experiment(str(path), out=out, run="r", resume=True, trials=4, force=True,
                   stream=stream, **kw)
    table = rows(out / "tiny" / "r")
    assert len(table) == 4
    assert {r["hparams"]["lr"] for r in table} <= {0.05, 0.1}  # the recorded space only
    info = json.loads((out / "tiny" / "r" / "run.json").read_text())
    assert info["experiment"]["space"]["data"]["hparams"]["lr"]["choices"] == [0.05, 0.1]
    return stream.getvalue()


def test_a_forced_resume_warns_and_goes_on_with_the_recorded_space(tmp_path: Path) -> None:
    path, out = _first_run(tmp_path)
    said = _forced_resume(path, out)
    assert "no longer declares" in said and "goes on with its recorded settings" in said


def test_resume_of_a_run_recorded_before_spaces_were_data_compares_the_repr(
        tmp_path: Path) -> None:
    path = write_experiment(tmp_path, space=OLD, search='trials=2, sampler="random"')
    out = tmp_path / "results"
    run_experiment(str(path), out=out, run="r", evaluate=fake_evaluate, stream=io.StringIO())
    info_path = out / "tiny" / "r" / "run.json"
    info = json.loads(info_path.read_text())
    del info["experiment"]["space"]["data"]
    info_path.write_text(json.dumps(info))
    run_experiment(str(path), out=out, run="r", resume=True, trials=3, evaluate=fake_evaluate,
                   stream=io.StringIO())
    assert len(rows(out / "tiny" / "r")) == 3


@pytest.mark.integration
def test_worker_processes_rebuild_the_recorded_experiment(tmp_path: Path) -> None:
    path, out = _first_run(tmp_path, workers=2)
    _forced_resume(path, out)


@pytest.mark.ray
@pytest.mark.integration
def test_ray_trials_rebuild_the_recorded_experiment(tmp_path: Path) -> None:
    path, out = _first_run(tmp_path)
    _forced_resume(path, out, backend="ray", num_cpus=1, evaluate=None)  # trained for real
    ray_rows = [r for r in rows(out / "tiny" / "r") if r["search"].startswith("ray")]
    assert len(ray_rows) == 2 and {r["epochs"] for r in ray_rows} == {1}  # not the file's 2


def test_resuming_a_smoke_run_without_smoke_says_so_first(tmp_path: Path) -> None:
    """The usual reason a plain --resume is refused: the latest run was a smoke run."""
    from lstm_search.experiment import ExperimentError

    path = write_experiment(tmp_path, smoke={"search.trials": 2, "task.n_train": 128})
    out = tmp_path / "results"
    run_experiment(str(path), out=out, run="r", smoke=True, evaluate=fake_evaluate,
                   stream=io.StringIO())
    with pytest.raises(ExperimentError, match=r"run 'r' .* was a --smoke run and this command "
                                              r"is not: resume it with --smoke"):
        run_experiment(str(path), out=out, run="r", resume=True, evaluate=fake_evaluate,
                       stream=io.StringIO())
