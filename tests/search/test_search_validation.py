"""Bad invocations of ``lstm-search run``: a clear error, exit code 2, and nothing written
(no run folder, or an existing run's run.json untouched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import write_experiment

from lstm_search.cli import main


def _fails_cleanly(args: list[str], out: Path, capsys: pytest.CaptureFixture[str],
                   *expected: str) -> str:
    code = main(["run", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("lstm-search run: error:")
    for text in expected:
        assert text in err
    return err


@pytest.mark.parametrize(("storage", "expected"), [
    ("nonsense", "expected sqlite:///PATH"),
    ("foo://x", "not a database URL"),
    ("sqlite://", "in-memory"),
    ("journal:", "needs a file path"),
])
def test_bad_storage_is_refused_before_the_run_folder_exists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], storage: str, expected: str) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    _fails_cleanly([str(path), "--storage", storage], out, capsys, repr(storage), expected)
    assert not out.exists()


def test_a_resume_with_a_bad_storage_leaves_the_run_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    run_dir = out / "tiny" / "r"
    run_dir.mkdir(parents=True)
    info = json.dumps({"invocation": {"overrides": {}, "smoke": False}})
    (run_dir / "run.json").write_text(info)
    _fails_cleanly([str(path), "--resume", "--run", "r", "--storage", "foo://x"], out, capsys,
                   "not a database URL")
    assert (run_dir / "run.json").read_text() == info
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]


def test_evolution_on_ray_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    _fails_cleanly(["jozefowicz", "--smoke", "--backend", "ray", "--num-cpus", "1"], out,
                   capsys, "evolution", "--backend optuna")
    assert not out.exists()


def test_an_optuna_storage_on_ray_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    _fails_cleanly([str(path), "--backend", "ray", "--storage", f"sqlite:///{tmp_path}/s.db"],
                   out, capsys, "--storage")
    assert not out.exists() and not (tmp_path / "s.db").exists()


def test_a_missing_dataset_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    corpora = tmp_path / "corpora"
    monkeypatch.setenv("LSTM_SEARCH_DATA", str(corpora))
    path = write_experiment(tmp_path, task="jsb")
    out = tmp_path / "results"
    _fails_cleanly([str(path)], out, capsys, "dataset 'jsb'", str(corpora),
                   "from LSTM_SEARCH_DATA", "LSTM_SEARCH_DATA=DIR", "--set task.data_dir=DIR")
    corpora.mkdir()
    _fails_cleanly([str(path)], out, capsys, str(corpora / "music/tcn_mat/JSB_Chorales.mat"),
                   "lstm-search data download jsb --to", "--set task.data_dir=DIR")
    assert not out.exists()


def test_workers_get_the_data_folder_as_an_absolute_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_search.experiment import load_experiment
    from lstm_search.search._run import _data_dirs

    (tmp_path / "corpora" / "music" / "tcn_mat").mkdir(parents=True)
    (tmp_path / "corpora" / "music" / "tcn_mat" / "JSB_Chorales.mat").touch()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LSTM_SEARCH_DATA", "corpora")  # relative: Ray trials run elsewhere
    exp = load_experiment(write_experiment(tmp_path, task="jsb"))
    assert _data_dirs(exp) == {"task.data_dir": str((tmp_path / "corpora").resolve())}
    assert _data_dirs(load_experiment(write_experiment(tmp_path, name="r"))) == {}  # no dataset
