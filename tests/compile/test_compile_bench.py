"""``lstm-search bench``: structure of its output (timings themselves stay out of tests)."""

from __future__ import annotations

import json

import pytest
import torch

from lstm_search.cli import main


def test_bench_json_has_every_backend_and_the_torch_reference(capsys):
    code = main(["bench", "--cell", "gru", "--hidden", "8", "--batch", "2", "--seq", "3",
                 "--repeats", "2", "--backends", "eager,script", "--json", "--threads", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert [r["impl"] for r in rows] == ["torch.nn.GRU", "eager", "script"]
    assert [r["path"] for r in rows] == ["", "step loop", "step loop"]
    assert rows[0]["ratio"] == 1.0 and rows[0]["compile_s"] is None
    for r in rows[1:]:
        assert r["median_ms"] > 0 and r["compile_s"] > 0 and r["hidden"] == 8
    assert {"cpu", "cores", "torch", "threads", "date"} <= set(out["machine"])


def test_bench_times_a_scannable_cell_on_the_scan_and_on_the_loop(capsys):
    code = main(["bench", "--cell", "mingru", "--hidden", "8", "--batch", "2", "--seq", "5",
                 "--repeats", "2", "--backends", "eager,script", "--threads", "1"])
    assert code == 0
    table = capsys.readouterr().out
    for impl, path in [("eager", "scan"), ("eager (step loop)", "step loop"),
                       ("script", "scan"), ("script (step loop)", "step loop")]:
        assert f"| mingru | {impl} | {path} | 8 |" in table


def test_bench_times_the_mlstm_s_chunkwise_path_and_its_step_loop(capsys):
    code = main(["bench", "--cell", "mlstm", "--hidden", "8", "--seq", "5", "--batch", "2",
                 "--repeats", "1", "--backends", "script"])
    assert code == 0
    table = capsys.readouterr().out
    assert "| mlstm | script | chunkwise | 8 |" in table
    assert "| mlstm | script (step loop) | step loop | 8 |" in table


def test_bench_rejects_unknown_cell_and_backend(capsys):
    assert main(["bench", "--cell", "nope"]) == 2
    assert "no cell named" in capsys.readouterr().err
    assert main(["bench", "--cell", "lstmm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm-search bench: error: --cell: no cell named 'lstmm'")
    assert "did you mean 'lstm'?" in err
    assert main(["bench", "--backends", "script,fast"]) == 2
    assert "unknown backend" in capsys.readouterr().err


def test_bench_times_the_convlstm_against_the_fc_lstm_and_a_hand_written_one(capsys):
    from lstm_search import zoo
    from lstm_search.bench import fc_lstm_hidden
    from lstm_search.genome import n_params

    code = main(["bench", "--cell", "convlstm", "--hidden", "3", "--spatial", "4", "5",
                 "--batch", "2", "--seq", "3", "--repeats", "2", "--backends", "script",
                 "--json", "--threads", "1"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["impl"] for r in rows] == ["torch.nn.LSTM", "hand-written ConvLSTM", "script"]
    params = n_params(zoo.get("convlstm"), 1, 3, (4, 5))
    fc = fc_lstm_hidden(20, params)  # one input channel of 4×5 positions
    assert rows[0]["hidden"] == fc and rows[0]["ratio"] == 1.0
    assert [r["hidden"] for r in rows[1:]] == [3, 3] and rows[2]["compile_s"] > 0


@pytest.mark.parametrize("inputs,params", [(20, 500), (256, 30_560), (10, 100)])
def test_the_fc_lstm_of_equal_parameters_is_the_nearest(inputs: int, params: int) -> None:
    from lstm_search.bench import fc_lstm_hidden

    def count(n: int) -> int:
        return sum(p.numel() for p in torch.nn.LSTM(inputs, n).parameters())

    n = fc_lstm_hidden(inputs, params)
    assert all(abs(count(n) - params) <= abs(count(k) - params) for k in range(1, 3 * n + 3))


def test_bench_refuses_a_bad_map_size(capsys):
    assert main(["bench", "--cell", "convlstm", "--spatial", "0", "4"]) == 2
    assert "--spatial must be >= 1" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
def test_bench_on_cuda_without_a_device_is_a_clear_error(capsys):
    assert main(["bench", "--cell", "lstm", "--device", "cuda"]) == 2
    assert "--device cuda: no CUDA device here" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_bench_on_cuda_times_every_backend_against_cudnn(capsys):
    code = main(["bench", "--cell", "lstm", "--hidden", "16", "--batch", "4", "--seq", "5",
                 "--repeats", "2", "--backends", "script,native", "--device", "cuda",
                 "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["impl"] for r in out["rows"]] == ["torch.nn.LSTM", "script", "native"]
    assert "gpu" in out["machine"]


def test_bench_leaves_the_global_generator_alone() -> None:
    """The references are initialised from the bench's seed inside a forked generator: a
    notebook's own torch.manual_seed stream goes on as if bench had not run."""
    from lstm_search.bench import bench_cell

    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    bench_cell("convlstm", hidden=2, batch=1, seq=2, repeats=1, warmup=0, spatial=(3, 3))
    bench_cell("gru", hidden=3, batch=1, seq=2, repeats=1, warmup=0)
    assert torch.equal(torch.rand(3), want)


def test_the_step_loops_of_whole_sequence_paths_are_timed_in_a_pass_of_their_own(monkeypatch):
    """Interleaved with the others, a slow step loop (the mLSTM's: hundreds of MB per call)
    slowed every implementation of its row: bench_cell times the scan and chunkwise paths
    first, then the step loops, each pass with the reference, and keeps the rows in order."""
    from lstm_search import bench

    calls: list[str] = []
    real = bench.compile_rnn

    def logged(*args, **kw):
        module = real(*args, **kw)
        tag = "loop" if kw.get("scan") is False else "whole"
        module.register_forward_pre_hook(lambda *_: calls.append(tag))
        return module

    monkeypatch.setattr(bench, "compile_rnn", logged)
    rows = bench.bench_cell("mingru", hidden=8, batch=2, seq=5, repeats=3, warmup=1,
                            backends=("eager", "script"))
    assert [r.impl for r in rows] == ["torch.nn.LSTM", "eager", "eager (step loop)", "script",
                                      "script (step loop)"]
    timed = calls[4:]  # after each module's first call when it was built
    assert timed == ["whole"] * 8 + ["loop"] * 8  # (1 warm-up + 3 repetitions) x 2 each
    assert all(r.ratio > 0 for r in rows)


def test_interleaved_times_warms_up_then_runs_each_module_once_per_round_on_clean_grads():
    from lstm_search.bench import interleaved_times

    x = torch.randn(3, 2, requires_grad=True)
    impls = {"a": torch.nn.Linear(2, 2), "b": torch.nn.Linear(2, 1)}
    calls: list[str] = []
    clean: list[bool] = []
    synced: list[int] = []

    def run(module: torch.nn.Module) -> None:
        calls.append("a" if module is impls["a"] else "b")
        clean.append(x.grad is None and all(p.grad is None for p in module.parameters()))
        module(x).sum().backward()

    def sync() -> None:
        synced.append(1)

    times = interleaved_times(impls, run, x, 3, warmup=2, sync=sync)
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert all(clean[4:])  # every timed call starts with no gradient left by the one before
    assert not all(clean[:4])  # (the warm-up calls accumulate them)
    assert sorted(times) == ["a", "b"] and all(len(v) == 3 and min(v) > 0
                                               for v in times.values())
    assert len(synced) == 2 * 6  # before and after each timed call


def test_native_share_counts_the_matrix_products_flops_a_memory_s_own_included():
    """benchmarks/native_share.py's share of the LSTM's matrix work: for cells whose products
    are their weights, the weight entries' share; the mLSTM adds its memory's products."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "native_share.py"
    spec = importlib.util.spec_from_file_location("native_share", path)
    assert spec is not None and spec.loader is not None
    share = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(share)
    lstm = share.matmul_flops("lstm", 16, 2, 6)
    # forward: x's products 2·T·B·m·4n and the state's 2·B·n·4n a step; backward twice that
    # less the products of the zero first state's gradient: a count of the same order
    assert 5 * 2 * 6 * 2 * 16 * 64 < lstm < 7 * 2 * 6 * 2 * 16 * 64
    for cell in ("gru", "lstm_b", "mut1"):
        flops = share.matmul_flops(cell, 16, 2, 6) / lstm
        entries = share.matrix_entries(cell, 16) / share.matrix_entries("lstm", 16)
        assert abs(flops - entries) < 0.02, cell  # (the zero first state: a product fewer)
    mlstm = share.matmul_flops("mlstm", 16, 2, 6) / lstm
    assert mlstm > share.matrix_entries("mlstm", 16) / share.matrix_entries("lstm", 16) + 0.1
