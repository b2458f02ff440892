"""Provenance of runs and rows: the search libraries' versions are recorded without importing
them (``import lstm_search`` stays free of Ray)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

from search_helpers import REPO


def test_provenance_records_optuna_and_ray_versions_without_importing_ray() -> None:
    code = ("import sys, json; from lstm_search.results import provenance; p = provenance(); "
            "print(json.dumps([p['optuna_version'], p['ray_version'], 'ray' in sys.modules, "
            "'optuna' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    optuna_v, ray_v, ray_imported, optuna_imported = json.loads(out)
    assert optuna_v == version("optuna") and ray_v == version("ray")
    assert not ray_imported and not optuna_imported
