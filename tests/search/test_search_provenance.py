"""Provenance of runs and rows: every row pins the code (commit, dirty state and a hash of the
diff), the CPU, torch's thread count and the GEMM path that produced it; ``run`` warns when the
code is not pinned by a commit; the search libraries' versions are recorded without importing
them (``import lstm_search`` stays free of Ray)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from search_helpers import REPO, rows, write_experiment

from lstm_search import provenance as prov
from lstm_search.genome import Genome
from lstm_search.provenance import GitState, git_state, trial_provenance
from lstm_search.results import TrialResult
from lstm_search.search import run_experiment
from lstm_search.search._trial import failed_row
from lstm_search.spaces import Proposal

GEMM_PATHS = ("onednn-packed", "F.linear")


def test_provenance_records_optuna_and_ray_versions_without_importing_ray() -> None:
    code = ("import sys, json; from lstm_search.provenance import provenance; p = provenance(); "
            "print(json.dumps([p['optuna_version'], p['ray_version'], 'ray' in sys.modules, "
            "'optuna' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    optuna_v, ray_v, ray_imported, optuna_imported = json.loads(out)
    assert optuna_v == version("optuna") and ray_v == version("ray")
    assert not ray_imported and not optuna_imported


@pytest.mark.parametrize("threads", [1, 2])
def test_rows_record_commit_cpu_threads_and_gemm_path(tmp_path: Path, threads: int) -> None:
    path = write_experiment(tmp_path, search='trials=1, sampler="random"')
    outside = torch.get_num_threads()
    out = run_experiment(str(path), out=tmp_path / "results", run="r",
                         overrides={"train.threads": threads}, stream=io.StringIO())
    (row,) = rows(out.run_dir)
    assert row["status"] == "complete"
    # the trainer's setting, in force while the trial trained (torch is restored afterwards)
    assert row["threads"] == threads and torch.get_num_threads() == outside
    assert row["cpu_model"] and row["cpu_model"] == prov.cpu_model()
    assert row["gemm_path"] in GEMM_PATHS
    source = prov.source_state()
    assert (row["git_commit"], row["git_dirty"], row["git_diff"]) == (
        source.commit, source.dirty, source.diff)
    info = json.loads((out.run_dir / "run.json").read_text())["provenance"]
    assert info["git_commit"] == row["git_commit"] and info["cpu_model"] == row["cpu_model"]


def test_failed_rows_carry_the_same_provenance(tmp_path: Path) -> None:
    from lstm_search.experiment import load_experiment

    exp = load_experiment(write_experiment(tmp_path, task="recall"),
                          overrides={"train.threads": 1})
    row = failed_row(exp, Proposal(Genome((), (), {}, ""), "unbuilt", {}), run="r", trial=0,
                     search="optuna-random", error="boom")
    assert row.threads == 1 and row.cpu_model and row.gemm_path in GEMM_PATHS
    assert row.git_commit == prov.source_state().commit
    # a failed row ranks with the run's complete rows: the experiment's direction
    assert row.direction == exp.search.direction == "maximize"


@pytest.mark.parametrize(("setting", "expected"), [("0", "F.linear"), ("1", "onednn-packed")])
def test_gemm_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, setting: str,
                                          expected: str) -> None:
    from lstm_search.compile._gemm import onednn_supported

    if expected == "onednn-packed" and not onednn_supported():
        pytest.skip("this torch build has no oneDNN linear operators")
    monkeypatch.setenv("LSTM_SEARCH_ONEDNN", setting)
    assert trial_provenance(threads=1)["gemm_path"] == expected


def test_old_rows_without_the_new_fields_still_load() -> None:
    old = {"experiment": "e", "run": "r", "trial": 0, "cell": "gru", "genome_id": "g",
           "genome": "{}", "task": "recall", "seed": 1, "git_commit": "abc-dirty"}
    row = TrialResult.from_dict(old)
    assert (row.cpu_model, row.gemm_path, row.git_diff) == ("", "", "")
    assert row.threads is None and row.git_dirty is None


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state_tells_clean_and_dirty_trees_and_dirty_states_apart(tmp_path: Path) -> None:
    repo = tmp_path / "tree"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    (repo / ".gitignore").write_text("venv/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    module = repo / "pkg" / "mod.py"

    assert git_state(module) == GitState(commit=head, dirty=False, diff="")
    module.write_text("X = 2\n")
    first = git_state(module)
    assert first.commit == head and first.dirty is True and len(first.diff) == 12
    module.write_text("X = 3\n")
    second = git_state(module)
    assert second.dirty is True and second.diff != first.diff, "two dirty states differ"
    module.write_text("X = 2\n")
    assert git_state(module) == first, "the same change, the same hash"
    # a copy of the code that git does not track (an installed package in an ignored
    # virtualenv inside the checkout) has no commit: the checkout's would be a lie
    (repo / "venv").mkdir()
    (repo / "venv" / "mod.py").write_text("X = 1\n")
    assert git_state(repo / "venv" / "mod.py") == GitState()
    assert git_state(tmp_path) == GitState(), "outside any checkout"


def test_the_commit_is_computed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(cmd, *args, **kw):  # type: ignore[no-untyped-def]
        if cmd and cmd[0] == "git":
            calls.append(list(cmd))
        return real(cmd, *args, **kw)

    prov.source_state.cache_clear()
    monkeypatch.setattr(prov.subprocess, "run", counting)
    try:
        first = [trial_provenance(threads=1)["git_commit"] for _ in range(3)]
        prov.provenance()
    finally:
        prov.source_state.cache_clear()
    assert len(set(first)) == 1
    assert 0 < len(calls) <= 3, f"git ran for every row: {calls}"


def test_run_warns_once_about_a_dirty_tree_and_about_a_changed_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_experiment(tmp_path, search='trials=1, sampler="random"')
    monkeypatch.setattr(prov, "source_state",
                        lambda: GitState(commit="a" * 40, dirty=True, diff="0123456789ab"))
    log = io.StringIO()
    out = run_experiment(str(path), out=tmp_path / "results", run="r", stream=log)
    warnings = [line for line in log.getvalue().splitlines() if "warning" in line]
    assert len(warnings) == 1 and "uncommitted changes" in warnings[0]
    assert "0123456789ab" in warnings[0]
    # resumed from another commit, clean: one warning naming both commits
    monkeypatch.setattr(prov, "source_state",
                        lambda: GitState(commit="b" * 40, dirty=False, diff=""))
    log = io.StringIO()
    run_experiment(str(path), out=tmp_path / "results", run="r", resume=True, trials=2,
                   stream=log)
    warnings = [line for line in log.getvalue().splitlines() if "warning" in line]
    assert len(warnings) == 1 and "a" * 12 in warnings[0] and "b" * 12 in warnings[0]
    # clean and the same commit: silent
    log = io.StringIO()
    run_experiment(str(path), out=tmp_path / "results", run="r", resume=True, trials=2,
                   stream=log)
    assert "warning" not in log.getvalue()
    assert len(rows(out.run_dir)) == 2
