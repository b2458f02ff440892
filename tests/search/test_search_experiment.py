"""Experiment declarations: loading by name and path, smoke mode, overrides, and malformed input
(clear error, exit code 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import REPO, cli, write_experiment

from lstm_search.cli import main
from lstm_search.config import ConfigError
from lstm_search.experiment import (
    Experiment,
    ExperimentError,
    experiment_names,
    load_experiment,
)
from lstm_search.spaces import SearchSpace

REQUIRED = ("quickstart", "greff_jsb", "jozefowicz", "random_cells_ptb", "hparams_lstm_ptb")


def test_required_experiments_are_declared() -> None:
    assert set(REQUIRED) <= set(experiment_names())


@pytest.mark.parametrize("name", experiment_names())
def test_every_experiment_loads_with_a_smaller_smoke_mode(name: str) -> None:
    full = load_experiment(name)
    smoke = load_experiment(name, smoke=True)
    assert isinstance(full, Experiment) and full.name == name
    assert isinstance(full.space, SearchSpace)
    assert smoke.search.trials <= full.search.trials
    assert smoke.train.epochs <= full.train.epochs
    # smaller in trials, epochs or data
    assert (smoke.search.trials < full.search.trials or smoke.train.epochs < full.train.epochs
            or smoke.task.subset is not None)
    json.dumps(full.to_dict())  # the resolved configuration goes to run.json


@pytest.mark.parametrize("name", [n for n in experiment_names() if load_experiment(n).paper])
def test_paper_scale_is_one_flag_away(name: str) -> None:
    full = load_experiment(name)
    paper = load_experiment(name, overrides=full.paper)
    assert paper.search.trials >= full.search.trials
    assert paper.search.trials > full.search.trials or paper.train.epochs > full.train.epochs


def test_greff_paper_scale_is_200_trials_per_variant() -> None:
    exp = load_experiment("greff_jsb")
    paper = load_experiment("greff_jsb", overrides=exp.paper)
    assert exp.space.cells[0] == "vanilla" and len(exp.space.cells) == 10
    assert paper.search.trials == 200 * len(exp.space.cells)


def test_paper_flag_without_a_paper_scale_is_a_clear_error(tmp_path: Path) -> None:
    path = write_experiment(tmp_path)
    proc = cli("run", str(path), "--paper", "--out", str(tmp_path / "results"))
    assert proc.returncode == 2 and "declares no paper scale" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_load_by_path_and_overrides_are_typed(tmp_path: Path) -> None:
    path = write_experiment(tmp_path)
    exp = load_experiment(str(path), overrides={"train.lr": "0.25", "search.trials": 7})
    assert exp.train.lr == 0.25 and exp.search.trials == 7
    with pytest.raises(ConfigError, match=r"train\.nope"):
        load_experiment(str(path), overrides={"train.nope": "1"})
    with pytest.raises(ConfigError, match=r"search\.trials"):
        load_experiment(str(path), overrides={"search.trials": "many"})


def test_unknown_experiment_name_lists_the_known_ones() -> None:
    with pytest.raises(ExperimentError, match="quickstart"):
        load_experiment("no_such_experiment")


MALFORMED = {
    "syntax": "EXPERIMENT = (\n",
    "no_experiment": "X = 1\n",
    "wrong_type": "EXPERIMENT = {'name': 'x'}\n",
    "raises": "raise RuntimeError('broken declaration')\n",
    "bad_field": ("from lstm_search.experiment import Experiment\n"
                  "EXPERIMENT = Experiment(name='x', space=42)\n"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_experiment_file_exits_2_and_writes_nothing(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{kind}.py"
    path.write_text(MALFORMED[kind])
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err or kind == "bad_field"
    assert "error" in err
    assert not out.exists()


@pytest.mark.parametrize("item", ["train.nope=1", "search.trials=many", "nonsense"])
def test_bad_set_exits_2_and_writes_nothing(item: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out), "--set", item])
    err = capsys.readouterr().err
    assert code == 2
    assert item.split("=")[0] in err
    assert not out.exists()


def test_experiment_files_import_no_heavy_modules() -> None:
    import subprocess
    import sys

    code = ("import sys; from lstm_search.experiment import load_experiment; "
            "[load_experiment(n) for n in ('quickstart', 'greff_jsb', 'jozefowicz')]; "
            "print(sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.strip()
    assert out == "[]"


def test_a_setting_every_trial_would_trip_on_stops_the_search(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown hyperparameter is the declaration's fault: one failed row, exit 2."""
    space = 'CellChoiceSpace(name="bad", cells=("gru",), hparams={"learning_rate": 0.1})'
    path = write_experiment(tmp_path, space=space, search='trials=3, sampler="random"')
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out), "--run", "r"])
    err = capsys.readouterr().err
    assert code == 2 and "learning_rate" in err and "--resume" in err
    table = [json.loads(x) for x in (out / "tiny" / "r" / "trials.jsonl").read_text().splitlines()]
    assert len(table) == 1 and table[0]["status"] == "failed"


def test_stage_overrides_apply_to_every_stage() -> None:
    exp = load_experiment("jozefowicz", overrides={"stages.task.n_train": "64",
                                                   "stages.min_fraction": "0.5"})
    assert [s.task.n_train for s in exp.stages] == [64, 64, 64]
    assert {s.min_fraction for s in exp.stages} == {0.5}
    with pytest.raises(ConfigError, match=r"stages\..*nope"):
        load_experiment("jozefowicz", overrides={"stages.task.nope": "1"})
    with pytest.raises(ConfigError, match="no stages"):
        load_experiment("quickstart", overrides={"stages.task.n_train": "1"})


def test_progress_line_reports_done_best_eta_and_reuse() -> None:
    from lstm_search.search import Summary, progress_line

    s = Summary(done=5, by_status={"complete": 3, "failed": 1, "pruned": 1}, reused=2,
                best=0.25, best_cell="gru", best_trial=4, objective_name="valid.nll")
    line = progress_line(s, total=10, elapsed=50.0, done_at_start=0)
    assert line.startswith("[ 5/10] best valid.nll 0.25 (gru, trial 4)")
    assert "failed 1" in line and "pruned 1" in line and "reused 2" in line
    assert "ETA 0:00:50" in line


def test_resume_without_an_earlier_run_exits_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write_experiment(tmp_path)
    out = tmp_path / "results"
    assert main(["run", str(path), "--out", str(out), "--resume"]) == 2
    assert main(["run", str(path), "--out", str(out), "--resume", "--run", "nope"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert not out.exists()


def test_stage_without_a_fraction_uses_the_search_gru_fraction() -> None:
    from lstm_search.search._trial import resolve
    from lstm_search.search.evolution import staged
    from lstm_search.spaces import Proposal
    from lstm_search.zoo import get

    exp = load_experiment("jozefowicz", overrides={"search.gru_fraction": "0.5"})
    assert exp.stages[1].min_fraction is None
    seen: list[str] = []

    def evaluate(cand, **kw):  # 60 % of the GRU on every stage
        from lstm_search.results import TrialResult

        task = cand.task
        seen.append(task.name)
        return TrialResult(experiment="e", run="r", trial=0, cell="c", genome_id="g",
                           genome="{}", task=task.name, seed=0, objective=0.6,
                           direction="maximize")

    refs = {s.task.name: 1.0 for s in exp.stages}
    staged(lambda cand, on_eval: evaluate(cand), exp,
           resolve(exp, Proposal(get("lstm"), "lstm", {})), on_eval=None, references=refs)
    # memorize asks 0.95 of its own; 0.6 stops it there at fraction 0.5 on later stages too
    assert seen == ["memorize"]
    exp2 = load_experiment("jozefowicz", overrides={"search.gru_fraction": "0.5",
                                                    "stages.min_fraction": "none"})
    seen.clear()
    staged(lambda cand, on_eval: evaluate(cand), exp2,
           resolve(exp2, Proposal(get("lstm"), "lstm", {})), on_eval=None, references=refs)
    assert seen == ["memorize", "arithmetic", "xml", "ptb"]


def test_smoke_and_paper_overrides_are_read_only_and_pickle() -> None:
    import pickle

    exp = load_experiment("greff_jsb")
    with pytest.raises(TypeError):
        exp.smoke["search.trials"] = 1000  # type: ignore[index]
    with pytest.raises(TypeError):
        exp.paper["search.trials"] = 1  # type: ignore[index]
    assert load_experiment("greff_jsb").smoke["search.trials"] == 4
    again = pickle.loads(pickle.dumps(exp))
    assert again.smoke == exp.smoke and again.paper == exp.paper
    assert json.loads(json.dumps(exp.to_dict()))["smoke"] == dict(exp.smoke)


def test_a_random_graph_space_passes_its_vocabulary_and_heads_to_the_generator() -> None:
    from lstm_search.spaces import RandomGraphSpace

    weights = {"linear": 2.0, "add": 1.0, "exp": 1.0, "logsigmoid": 1.0, "max": 1.0,
               "sigmoid": 1.0}
    space = RandomGraphSpace(name="modern_random", op_weights=weights, heads=(2, 4))
    ops, heads = set(), set()
    for seed in range(20):
        g = space.build({"graph_seed": seed}).genome
        ops |= {n.op for n in g.nodes}
        heads |= {n.params["heads"] for n in g.nodes if "heads" in n.params}
    assert ops <= set(weights) and {"exp", "logsigmoid", "max"} & ops and heads == {2, 4}
    # run.json records the space as data and rebuilds it from that alone
    from lstm_search.results import json_ready
    from lstm_search.spaces import space_from_json, space_to_json

    data = json.loads(json.dumps(json_ready(space_to_json(space))))
    assert data["op_weights"] == weights and data["heads"] == [2, 4]
    assert space_from_json(data) == space
    scan = RandomGraphSpace(name="scan_random", scan=0.5)
    data = json.loads(json.dumps(json_ready(space_to_json(scan))))
    assert data["scan"] == 0.5 and space_from_json(data) == scan
    from lstm_search.compile import build_plan
    assert 5 <= sum(build_plan(scan.build({"graph_seed": s}).genome, 4, 4).scannable
                    for s in range(20)) <= 15
    memory = RandomGraphSpace(name="memory_random", memory=0.5, heads=(2,))
    data = json.loads(json.dumps(json_ready(space_to_json(memory))))
    assert data["memory"] == 0.5 and space_from_json(data) == memory
    plans = [build_plan(memory.build({"graph_seed": s}).genome, 4, 4) for s in range(20)]
    assert 5 <= sum(p.chunkwise for p in plans) <= 15
    with pytest.raises(ValueError, match=r"space 'bad'.*scan"):
        RandomGraphSpace(name="bad", scan=2.0)
    with pytest.raises(ValueError, match=r"space 'bad'.*memory"):
        RandomGraphSpace(name="bad", memory=-1)
    with pytest.raises(ValueError, match=r"space 'bad'.*heads"):
        RandomGraphSpace(name="bad", heads=(3.5,))
    with pytest.raises(ValueError, match=r"space 'bad'.*unknown op 'nope'"):
        RandomGraphSpace(name="bad", op_weights={"nope": 1.0})
