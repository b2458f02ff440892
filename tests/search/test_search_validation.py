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


def test_a_task_option_the_task_does_not_take_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)  # recall, task.gap=5
    out = tmp_path / "results"
    _fails_cleanly([str(path), "--set", "task.name=parity"], out, capsys,
                   "task.gap is not an option of task 'parity'", "task.gap=none")
    _fails_cleanly([str(path), "--set", "task.name=nope"], out, capsys, "unknown task 'nope'")
    assert not out.exists()


def test_a_task_of_the_other_direction_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)  # recall (accuracy, maximised), task.gap=5
    out = tmp_path / "results"
    _fails_cleanly([str(path), "--set", "task.name=adding", "--set", "task.gap=none"], out,
                   capsys, "search.direction is 'maximize' but task 'adding'",
                   "set search.direction=minimize")
    assert not out.exists()


def test_every_shipped_experiment_declares_its_task_direction() -> None:
    from lstm_search.experiment import experiment_names, load_experiment
    from lstm_search.search._run import check_tasks

    folder = Path(__file__).parents[2] / "experiments"
    names = experiment_names(folder)  # every file but __init__ and the suites
    assert len(names) >= 9
    assert set(names) | {"__init__", "seed_systems"} == {p.stem for p in folder.glob("*.py")}
    for name in names:
        check_tasks(load_experiment(name))


def test_a_misspelt_experiment_gets_a_suggestion(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(["quickstrat"], tmp_path / "results", capsys, "did you mean 'quickstart'?")


def test_a_bad_value_names_the_type_in_words(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(["quickstart", "--set", "train.epochs=abc"], tmp_path / "results", capsys,
                   "'abc' is not an integer")


def test_ray_address_auto_without_a_cluster_is_a_two_line_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    services = pytest.importorskip("ray._private.services")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])  # whatever runs here
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    out = tmp_path / "results"
    err = _fails_cleanly(["quickstart", "--smoke", "--backend", "ray", "--address", "auto"],
                         out, capsys, "no running Ray cluster", "ray start --head")
    assert len(err.strip().splitlines()) == 2 and not out.exists()


def test_run_data_dir_comes_before_the_variable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --data-dir DIR`` is the rule's first step: it wins over LSTM_SEARCH_DATA, is named
    in the message, and the message gives the exact download command for that folder."""
    monkeypatch.setenv("LSTM_SEARCH_DATA", str(tmp_path / "elsewhere"))
    mine = tmp_path / "mine"
    mine.mkdir()
    path = write_experiment(tmp_path, task="jsb")
    out = tmp_path / "results"
    err = _fails_cleanly([str(path), "--data-dir", str(mine)], out, capsys,
                         str(mine / "music/tcn_mat/JSB_Chorales.mat"), "given explicitly",
                         f"lstm-search data download jsb --to {mine}\n", "--data-dir DIR")
    assert "elsewhere" not in err and not out.exists()


def test_data_check_takes_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "--data-dir", str(tmp_path), "jsb"]) == 1
    assert str(tmp_path) in capsys.readouterr().err


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


# -- names that become folders ---------------------------------------------------------------

@pytest.mark.parametrize(("args", "option"), [
    (["--run", "../../x"], "--run"),
    (["--run", "/abs/path"], "--run"),
    (["--run", "."], "--run"),
    (["--run", ".."], "--run"),
    (["--run", ""], "--run"),
    (["--run", "a\x00b"], "--run"),
    (["--run", "ok\n"], "--run"),
    (["--set", "name=.."], "'name'"),
    (["--set", "name=a/b"], "'name'"),
    (["--set", "name=."], "'name'"),
])
def test_a_name_that_is_not_one_folder_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        option: str) -> None:
    path = write_experiment(tmp_path)
    root = tmp_path / "root"
    out = root / "a" / "results"
    out.mkdir(parents=True)
    _fails_cleanly([str(path), *args], out, capsys, option)
    # nothing written anywhere: not under --out, not beside it, not at the absolute path
    assert sorted(root.rglob("*")) == [root / "a", out]
    assert not Path("/abs/path").exists()


# -- settings checked before anything is written ---------------------------------------------

@pytest.mark.parametrize(("setting", "named"), [
    ("task.gap=-5", "task.gap"),
    ("task.gap=0", "task.gap"),
    ("task.n_train=0", "task.n_train"),
    ("task.subset=1.5", "task.subset"),
    ("model.hidden_size=0", "model.hidden_size"),
    ("model.dropout=1.2", "model.dropout"),
    ("train.lr=nan", "train.lr"),
    ("train.lr=inf", "train.lr"),
    ("train.lr=-1", "train.lr"),
    ("train.epochs=0", "train.epochs"),
    ("train.momentum=-0.1", "train.momentum"),
    ("train.clip=nan", "train.clip"),
    ("search.cpus_per_trial=0", "search.cpus_per_trial"),
    ("search.cpus_per_trial=nan", "search.cpus_per_trial"),
    ("search.gpus_per_trial=-1", "search.gpus_per_trial"),
    ("search.max_retries=-1", "search.max_retries"),
    ("search.gru_fraction=1.5", "search.gru_fraction"),
])
def test_a_setting_out_of_range_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, named: str) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    _fails_cleanly([str(path), "--set", setting], out, capsys, named)
    assert not out.exists()


def test_out_of_range_values_in_an_experiment_file_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    path.write_text(path.read_text().replace("lr=0.5,", "lr=float('nan'),"))
    out = tmp_path / "results"
    _fails_cleanly([str(path)], out, capsys, "lr must be a finite number > 0")
    assert not out.exists()


def _storage_cases(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "notdb.db").write_text("hello, not a database\n")
    (tmp_path / "garbage.log").write_bytes(b"garbage\xff\n{not json\n")
    (tmp_path / "text.log").write_text("not a journal\n")
    return [(f"sqlite:///{tmp_path}/missing/dir/s.db", "cannot be opened"),
            (f"sqlite:///{tmp_path}/notdb.db", "not a database"),
            (f"journal:{tmp_path}/garbage.log", "cannot be opened"),
            (f"journal:{tmp_path}/text.log", "cannot be opened")]


def test_a_storage_that_cannot_be_opened_exits_2_and_leaves_no_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    for storage, expected in _storage_cases(tmp_path):
        for _ in range(2):  # the same command again meets the same error, not "run exists"
            err = _fails_cleanly([str(path), "--run", "r", "--storage", storage], out, capsys,
                                 "--storage", expected)
            assert "exists" not in err
        assert not out.exists()


def test_no_ray_cluster_at_address_is_two_lines_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import lstm_search.search as search

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Could not find any running Ray instance. Please specify the one "
                              "to connect to by setting `--address` flag.\nmore detail")

    monkeypatch.setattr(search, "run_experiment", no_cluster)
    code = main(["run", "quickstart", "--backend", "ray", "--address", "10.0.0.1:6379"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 2 and "--address 10.0.0.1:6379" in err and "Traceback" not in err
    assert "ray start --head" in err  # the second line says what to do


def test_an_experiment_file_calling_sys_exit_is_an_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    path.write_text("import sys\nsys.exit(0)\n" + path.read_text())
    out = tmp_path / "results"
    _fails_cleanly([str(path)], out, capsys, str(path), "SystemExit")
    assert not out.exists()


@pytest.mark.parametrize(("hparams", "named"), [
    ('{"lr": Choice((0.1, -1.0))}', "'lr'"),
    ('{"lr": 0.3, "task.gap": Choice((0, 5))}', "'task.gap'"),
    ('{"lr": Uniform(0.0, 1.0)}', "'lr'"),
])
def test_a_declared_hyperparameter_value_out_of_range_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], hparams: str, named: str) -> None:
    space = f'CellChoiceSpace(name="t", cells=("gru",), hparams={hparams})'
    path = write_experiment(tmp_path, space=space)
    path.write_text(path.read_text().replace("import CellChoiceSpace,",
                                             "import CellChoiceSpace, Uniform,"))
    out = tmp_path / "results"
    _fails_cleanly([str(path)], out, capsys, named, "out of range")
    assert not out.exists()
