"""The README's many-machines recipe on a real database server: PostgreSQL started in a
temporary folder on a free local port, two drivers on one run, one of them killed, the run
resumed; the record's invariant holds (lstm_search/results.py)."""

from __future__ import annotations

import glob
import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from search_helpers import drive, fake_evaluate, grid_experiment, points, rows

from lstm_search.results import check_run
from lstm_search.search import run_experiment
from lstm_search.search._optuna import check_study
from lstm_search.search._storage import make_storage

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own (initdb + pg_ctl in a temporary folder, 127.0.0.1 on a
    free port, trust authentication), stopped and removed at teardown. As root the server runs
    as the ``postgres`` user (or ``nobody``): PostgreSQL refuses to run as root."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or \
        [p for p in [shutil.which("initdb")] if p]
    if not initdb:
        pytest.skip("PostgreSQL's initdb and pg_ctl not found (Debian: apt-get install "
                    "postgresql; scripts/setup.sh --dev installs it when run as root)")
    from sqlalchemy.engine import make_url

    try:  # the driver SQLAlchemy picks for postgresql:// (psycopg 3 with SQLAlchemy 2.1)
        make_url("postgresql://x@127.0.0.1/x").get_dialect().import_dbapi()
    except ImportError as e:
        pytest.skip(f"no PostgreSQL driver for SQLAlchemy ({e}); the dev extras install it: "
                    f"pip install -e '.[dev]'")
    bindir = Path(initdb[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="lstm-search-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, port = folder / "data", _free_port()

    def pg(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "lstm", "--no-sync")
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
           "-o", f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off", "start")
    except subprocess.CalledProcessError as e:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {e.stderr.decode()[-2000:]}")
    try:
        yield f"postgresql://lstm@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_drivers_on_postgresql_one_killed_then_resumed(
        tmp_path: Path, postgres_url: str) -> None:
    path = grid_experiment(tmp_path)
    out = tmp_path / "shared-results"
    run_dir = out / "grid12" / "r1"
    # machine 1: lstm-search run ... --storage postgresql://... --run r1 --workers 2
    a = drive(path, out, "r1", "--storage", postgres_url, "--workers", "2", seconds=0.5,
              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while len(rows(run_dir)) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        # machine 2: the same command with --resume joins the run
        b = drive(path, out, "r1", "--storage", postgres_url, "--resume", seconds=0.5,
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while len(rows(run_dir)) < 5 and time.monotonic() < end:
            time.sleep(0.05)
        running = [t for t in optuna.load_study(study_name="grid12/r1",
                                                storage=make_storage(postgres_url)).trials
                   if t.state == optuna.trial.TrialState.RUNNING]
        assert running, "trials in flight when machine 1 dies"
        os.kill(a.pid, signal.SIGKILL)  # machine 1 lost, its workers with it
        a.wait(timeout=60)
        _, err = b.communicate(timeout=300)
        assert b.returncode == 0, err.decode()[-3000:]
    finally:
        for proc in (a, locals().get("b")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    # B took over the dead driver's trials; a resume afterwards finds nothing left to do
    assert len({r["trial"] for r in rows(run_dir)}) == 12
    again = run_experiment(str(path), out=out, run="r1", resume=True, storage=postgres_url,
                           evaluate=fake_evaluate, stream=io.StringIO())
    assert again.problems == ()
    reference = run_experiment(str(path), out=tmp_path / "reference", run="u",
                               evaluate=fake_evaluate, stream=io.StringIO()).run_dir
    table = rows(run_dir)
    assert len({r["trial"] for r in table}) == len(table), "one row per trial number"
    assert points(run_dir) == points(reference), "every point once, with its metrics"
    assert check_run(run_dir) == [] and check_study(run_dir, postgres_url, "grid12/r1") == []
    assert len({r["worker"] for r in table}) >= 2, "both machines ran trials"
