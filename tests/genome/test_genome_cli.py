"""``lstm-search check`` and ``lstm-search show`` run through lstm_search.cli.main."""

from __future__ import annotations

import json

import pytest

from lstm_search import zoo
from lstm_search.cli import main
from lstm_search.genome import genome_id, n_params


@pytest.fixture
def gru_file(tmp_path):
    path = tmp_path / "gru.json"
    path.write_text(zoo.get("gru").to_json())
    return path


@pytest.fixture
def bad_file(tmp_path):
    data = zoo.get("gru").to_dict()
    data["nodes"][0]["op"] = "frobnicate"        # unknown op on x_r
    data["nodes"][3]["inputs"] = ["r_pre", "z"]  # arity on r
    data["nodes"][8]["inputs"] = ["ghost"]       # dangling input on x_n
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


def test_check_valid(gru_file, capsys) -> None:
    assert main(["check", str(gru_file)]) == 0
    out = capsys.readouterr().out
    g = zoo.get("gru")
    assert "valid" in out and "gru" in out and genome_id(g) in out
    assert f"{n_params(g, 128, 128):,}" in out and "input size 128, hidden size 128" in out


def test_check_sizes(gru_file, capsys) -> None:
    assert main(["check", str(gru_file), "--input-size", "10", "--hidden-size", "20"]) == 0
    out = capsys.readouterr().out
    assert f"{3 * 20 * 10 + 3 * 400 + 6 * 20:,} at input size 10, hidden size 20" in out


def test_check_lists_all_problems(bad_file, capsys) -> None:
    assert main(["check", str(bad_file)]) == 2
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()[1:]]
    assert "3 problem(s)" in out.splitlines()[0]
    assert any(line.startswith("node 'x_r'") and "[unknown-op]" in line for line in lines)
    assert any(line.startswith("node 'r'") and "[arity]" in line for line in lines)
    assert any(line.startswith("node 'x_n'") and "[undefined-input]" in line for line in lines)
    assert len(lines) == 3


def test_check_lists_structural_local_and_graph_problems_together(tmp_path, capsys) -> None:
    # structural problems (unknown keys) used to stop the check before the genome's own
    # problems were looked at, and a local problem hid every graph-level one
    data = zoo.get("gru").to_dict()
    data["colour"] = "blue"                                   # unknown top-level key
    data["nodes"][1]["comment"] = "recurrent part of r"       # unknown node key on h_r
    data["nodes"][0]["op"] = "frobnicate"                     # unknown op on x_r
    data["nodes"][4]["params"] = {"gain": 2.0}                # unknown parameter on x_z
    data["nodes"][12]["inputs"] = ["n_pre", "x_n"]            # arity (too many) on n
    data["nodes"][6]["inputs"] = ["x_z", "h_z", "x"]          # width on z_pre
    data["nodes"].append({"name": "junk", "op": "sigmoid", "inputs": ["h"]})  # dead node
    path = tmp_path / "many.json"
    path.write_text(json.dumps(data))
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()[1:]]
    want = [("colour", "format"), ("node 'h_r'", "format"), ("node 'x_r'", "unknown-op"),
            ("node 'x_z'", "param"), ("node 'n'", "arity"), ("node 'z_pre'", "width"),
            ("node 'junk'", "dead-node")]
    for where, rule in want:
        assert any(line.startswith(where) and line.endswith(f"[{rule}]") for line in lines), \
            (where, rule, out)
    assert len(lines) == len(want), out
    assert f"{len(want)} problem(s)" in out.splitlines()[0]


def test_check_does_not_repeat_an_unreadable_node_as_missing(tmp_path, capsys) -> None:
    data = zoo.get("gru").to_dict()
    data["nodes"][12]["op"] = 7                  # node n cannot be read ...
    data["nodes"][3]["inputs"] = ["r_pre", "q"]  # ... but other problems are still found
    path = tmp_path / "unreadable.json"
    path.write_text(json.dumps(data))
    assert main(["check", str(path)]) == 2
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [line.rsplit("[", 1)[1] for line in lines] == ["format]", "arity]",
                                                           "undefined-input]"], lines
    assert lines[0].startswith("node 'n'") and lines[1].startswith("node 'r'")
    assert not any("'n' is not" in line for line in lines)  # n_pre -> n -> h_new still known


def test_check_budgets(gru_file, capsys) -> None:
    assert main(["check", str(gru_file), "--max-nodes", "5", "--max-params", "400",
                 "--input-size", "8", "--hidden-size", "8"]) == 2
    out = capsys.readouterr().out
    assert "nodes:" in out and "[budget]" in out
    assert out.count("[budget]") == 2


def test_check_missing_file(tmp_path, capsys) -> None:
    assert main(["check", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_check_of_a_zoo_name_says_what_to_do(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", "lstm"]) == 2
    err = capsys.readouterr().err
    assert "'lstm' is a zoo cell" in err and "lstm-search show lstm --json > lstm.json" in err
    (tmp_path / "mine.json").write_text(zoo.get("gru").to_json())
    assert main(["check", "mine"]) == 2
    assert "did you mean mine.json?" in capsys.readouterr().err


def test_check_malformed_json(tmp_path, capsys) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"states": ["h"], "nodes": [}')
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr().out
    assert "malformed JSON" in out and "[json]" in out and "line 1" in out


def test_show_equations(capsys) -> None:
    assert main(["show", "lstm"]) == 0
    out = capsys.readouterr().out
    assert "c_new" in out and "σ(i_pre)" in out and genome_id(zoo.get("lstm")) in out


def test_show_json_round_trips(gru_file, capsys) -> None:
    assert main(["show", str(gru_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == zoo.get("gru").to_dict()


def test_show_dot(capsys) -> None:
    assert main(["show", "cifg", "--dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "cifg"') and '"f_gate"' in out


def test_show_png(tmp_path, capsys) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "vanilla.png"
    assert main(["show", "vanilla", "--png", str(out), "--title", "Greff's vanilla"]) == 0
    assert out.stat().st_size > 20_000
    assert str(out) in capsys.readouterr().out


def test_show_code(capsys) -> None:
    try:
        from lstm_search.compile import generated_source  # noqa: F401
    except ImportError:
        assert main(["show", "gru", "--code"]) == 2
        assert "compiler" in capsys.readouterr().err
        return
    assert main(["show", "gru", "--code", "--backend", "script"]) == 0
    out = capsys.readouterr().out
    assert "def " in out and "torch.sigmoid" in out
    assert main(["show", "gru", "--code", "--backend", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_show_unknown_cell(capsys) -> None:
    assert main(["show", "lstmm"]) == 2
    err = capsys.readouterr().err
    assert "'lstmm'" in err and "known:" in err


def test_show_invalid_file(bad_file, capsys) -> None:
    assert main(["show", str(bad_file)]) == 2
    assert "[unknown-op]" in capsys.readouterr().err
    assert main(["show", str(bad_file), "--json"]) == 0  # printing the JSON still works


@pytest.mark.parametrize("flags", [[], ["--code"]])
def test_show_into_a_closed_pipe_is_quiet(flags) -> None:
    # `lstm-search show lstm | head -1`: the reader is gone before the output is flushed; the
    # only read end of the pipe is closed at once, so every write sees EPIPE
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "lstm_search", "show", "lstm", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"BrokenPipeError" not in err and b"Traceback" not in err, err.decode()
    assert proc.returncode == 0
