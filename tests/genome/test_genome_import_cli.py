"""``lstm-search import nasbench``: recipe files, logs and folders to genome files."""

from __future__ import annotations

import json

from lstm_search.cli import main
from lstm_search.genome import Genome, genome_id, import_nasbench_nlp, validate

RNN = {"a": {"op": "linear", "input": ["x", "h_prev_0"]},
       "h_new_0": {"op": "activation_tanh", "input": ["a"]}}
LATE = {"a": {"op": "linear", "input": ["h_prev_1", "h_prev_0"]},
        "h_new_0": {"op": "activation_tanh", "input": ["a"]},
        "b": {"op": "linear", "input": ["x", "h_prev_0"]},
        "h_new_1": {"op": "activation_sigm", "input": ["b"]}}
FEED_FORWARD = {"a": {"op": "linear", "input": ["x"]},
                "h_new_0": {"op": "activation_tanh", "input": ["a"]}}


def test_list_file(tmp_path, capsys) -> None:
    src = tmp_path / "recipes.json"
    src.write_text(json.dumps([RNN, json.dumps(LATE)]))
    assert main(["import", "nasbench", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "imported 2 of 2" in capsys.readouterr().out
    g = Genome.from_json((tmp_path / "out" / "recipes_1.json").read_text())
    assert validate(g) == [] and genome_id(g) == genome_id(import_nasbench_nlp(LATE))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [r["label"] for r in manifest] == ["recipes_0", "recipes_1"]
    assert manifest[0]["cell_params"] == manifest[0]["benchmark_cell_params"] == \
        600 * 400 + 600 * 600 + 600


def test_log_folder_with_a_refused_recipe(tmp_path, capsys) -> None:
    logs = tmp_path / "logs" / "sub"
    logs.mkdir(parents=True)
    for k, r in enumerate([RNN, LATE, FEED_FORWARD]):
        (logs / f"log_stats_model_{k}.json").write_text(json.dumps(
            {"recepie": json.dumps(r), "num_params": 123, "status": "OK", "nhid": 600}))
    (logs / "notes.json").write_text("[1, 2")  # not JSON
    rc = main(["import", "nasbench", str(tmp_path / "logs"), "--out", str(tmp_path / "out")])
    cap = capsys.readouterr()
    assert rc == 2
    assert "imported 2 of 3" in cap.out and "1 refused" in cap.out
    assert "log_stats_model_2.json" in cap.err and "no-recurrence" in cap.err
    assert "notes.json: not a JSON file" in cap.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [(r["label"], r["num_params"], r["status"]) for r in manifest] == \
        [("log_stats_model_0", 123, "OK"), ("log_stats_model_1", 123, "OK")]


def test_missing_source(tmp_path, capsys) -> None:
    assert main(["import", "nasbench", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_darts_genotype_text_and_file(tmp_path, capsys) -> None:
    from lstm_search import zoo

    text = ("Genotype(recurrent=[('tanh', 0), ('tanh', 1), ('relu', 1), ('tanh', 3), "
            "('tanh', 3), ('relu', 3), ('relu', 4), ('relu', 7), ('relu', 8), ('relu', 8), "
            "('relu', 8)], concat=[2, 5, 6, 9, 10, 11])")
    assert main(["import", "darts", text, "--out", str(tmp_path), "--name", "enas"]) == 0
    g = Genome.from_json((tmp_path / "enas.json").read_text())
    assert g == zoo.get("enas")
    src = tmp_path / "genotype.txt"
    src.write_text(text.replace("'tanh', 0", "'gelu', 0"))
    assert main(["import", "darts", str(src), "--out", str(tmp_path)]) == 2
    assert "recurrent node 1" in capsys.readouterr().err
    assert main(["import", "darts", text, "--out", str(tmp_path), "--name", "../x"]) == 2
