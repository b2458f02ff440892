"""The distribution: every package of the tree is listed in pyproject.toml, and the catalogue
(the top-level ``experiments/`` and ``search_spaces/``) ships inside the installed package, so a
wheel installed outside the checkout runs ``lstm-search run quickstart``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import lstm_search
from lstm_search.declarations import CATALOGUE, EXPERIMENTS, SEARCH_SPACES, catalogue_dir

CHECKOUT = Path(lstm_search.__file__).resolve().parents[1]
PYPROJECT = CHECKOUT / "pyproject.toml"

pytestmark = pytest.mark.skipif(not PYPROJECT.is_file(), reason="not a source checkout")


def _setuptools_config() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_pyproject_lists_every_package_and_maps_the_catalogue() -> None:
    config = _setuptools_config()
    tree = {".".join(p.parent.relative_to(CHECKOUT).parts)
            for p in (CHECKOUT / "lstm_search").rglob("__init__.py")}
    mapped = {f"{CATALOGUE}.{EXPERIMENTS}": EXPERIMENTS,
              f"{CATALOGUE}.{SEARCH_SPACES}": SEARCH_SPACES}
    assert set(config["packages"]) == tree | set(mapped)
    assert config["package-dir"] == mapped
    for folder in mapped.values():
        assert (CHECKOUT / folder / "__init__.py").is_file()


def test_the_catalogue_is_found_where_the_package_maps_it() -> None:
    assert catalogue_dir(EXPERIMENTS).resolve() == (CHECKOUT / EXPERIMENTS).resolve()
    assert catalogue_dir(SEARCH_SPACES).resolve() == (CHECKOUT / SEARCH_SPACES).resolve()


@pytest.mark.integration
def test_a_wheel_installed_outside_the_checkout_runs_quickstart(tmp_path: Path) -> None:
    """``python -m build --wheel``, the wheel installed into a fresh virtualenv (its
    dependencies: this interpreter's site-packages, by a .pth file), then the catalogue's
    quickstart (smoke) and a user's own experiment file run from a folder outside the
    checkout."""
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist),
                    str(CHECKOUT)], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = dist.glob("lstm_search-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    python = bin_dir / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "deps.pth").write_text("\n".join(deps) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)

    where = run(str(python), "-c", "import lstm_search; print(lstm_search.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout
    out = run(str(bin_dir / "lstm-search"), "run", "quickstart", "--smoke", "--out",
              str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr[-3000:]
    (trials,) = (tmp_path / "out" / "quickstart").glob("*/trials.jsonl")
    rows = [json.loads(line) for line in trials.read_text().splitlines()]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"complete"}
    # a user's own experiment file, run by path, still loads the catalogue's space by name
    (work / "mine.py").write_text(
        "from lstm_search.experiment import Experiment\n"
        "from lstm_search.spaces import load_space\n"
        "EXPERIMENT = Experiment(name='mine', space=load_space('quickstart'))\n")
    mine = run(str(python), "-c", "from lstm_search.experiment import load_experiment; "
               "print(load_experiment('mine.py').space.name)")
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.strip() == "quickstart"


def _project() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def test_runtime_dependencies_leave_test_tools_and_extras_out() -> None:
    """An installed user gets the library and CLI; test tools are in ``dev`` only; Ray,
    notebooks, the dashboard ... are extras, each named in the README, all in ``dev`` but the
    dashboard."""
    project = _project()
    names = {re.split(r"[\[<>=~! ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not names & {"pytest", "pytest-timeout", "pytest-xdist", "hypothesis", "ruff",
                        "build", "ray", "jupyterlab", "nbclient", "optuna-dashboard",
                        "scikit-learn"}
    assert {"torch", "optuna", "pandas"} <= names
    extras = project["optional-dependencies"]
    assert {"ray", "notebooks", "dashboard", "importance", "dev"} <= set(extras)
    assert any(d.startswith("pytest") for d in extras["dev"])
    assert any(d.startswith("jupyterlab") for d in extras["notebooks"])
    (self_ref,) = [d for d in extras["dev"] if d.startswith("lstm-search[")]
    included = set(self_ref[len("lstm-search["):-1].split(","))
    assert set(extras) - {"dev", "dashboard"} <= included
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    for extra in set(extras) - {"dev"}:
        assert f"lstm-search[{extra}]" in readme or f".[{extra}]" in readme, extra
