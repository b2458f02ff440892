"""Long-lag recall: accuracy vs gap for rnn_tanh, lstm and gru at an equal parameter budget.

The first token (one of 8 classes) must be named after ``gap`` distractors and a query.
Hidden sizes are chosen so that every model has about the same number of parameters
(embedding + cell + classifier). Adam, fixed data (seed 1234), early stopping on validation
accuracy; the test accuracy is at the best epoch's weights. Chance is 1/8.

    python benchmarks/train_recall_gap.py --gaps 5 20 50 100
"""

from __future__ import annotations

import argparse
import time

from train_common import machine, write_json, write_markdown

CELLS = ("rnn_tanh", "lstm", "gru")


def params_for(cell: str, hidden: int, vocab: int = 26, classes: int = 8) -> int:
    gates = {"rnn_tanh": 1, "gru": 3, "lstm": 4}[cell]
    cell_params = gates * (2 * hidden * hidden + 2 * hidden)  # torch layout, input = hidden
    return vocab * hidden + cell_params + hidden * classes + classes


def hidden_for_budget(cell: str, budget: int) -> int:
    return min(range(4, 512), key=lambda h: abs(params_for(cell, h) - budget))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gaps", type=int, nargs="+", default=[20, 50, 100])
    ap.add_argument("--cells", nargs="+", default=list(CELLS))
    ap.add_argument("--lstm-hidden", type=int, default=32, help="sets the parameter budget")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3],
                    help="each cell is trained at each rate; the best validation run is shown")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from lstm_search import zoo
    from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
    from lstm_search.evaluate import evaluate_candidate, resolve_candidate

    budget = params_for("lstm", args.lstm_hidden)
    train = TrainConfig(optimizer="adam", lr=args.lrs[0], lr_schedule="none",
                        epochs=args.epochs, batch_size=32, clip=1.0, patience=args.patience,
                        threads=args.threads, progress=False, eval_batch_size=250)
    rows = []
    for gap in args.gaps:
        task = TaskConfig(name="recall", gap=gap, n_train=args.n_train, n_valid=500, n_test=500)
        for cell in args.cells:
            hidden = hidden_for_budget(cell, budget)
            model = ModelConfig(hidden_size=hidden, num_layers=1, init_scale=None)
            for lr in args.lrs:
                t0 = time.perf_counter()
                r = evaluate_candidate(resolve_candidate(
                    zoo.get(cell), cell, {"lr": lr}, task=task, model=model, train=train,
                    seed=args.seed))
                row = {"gap": gap, "cell": cell, "lr": lr, "hidden": hidden,
                       "n_params": r.n_params, "status": r.status, "error": r.error,
                       "best_epoch": r.best_epoch, "epochs": r.epochs,
                       "valid.acc": r.metrics.get("valid.acc"),
                       "test.acc": r.metrics.get("test.acc"),
                       "seconds": time.perf_counter() - t0}
                rows.append(row)
                print(row, flush=True)
            write_json("train_recall_gap", {"benchmark": "train_recall_gap",
                                            "machine": machine(), "args": vars(args),
                                            "budget": budget, "rows": rows})
    lines = ["# Long-lag recall: test accuracy vs gap at an equal parameter budget", "",
             f"Budget about {budget:,} parameters (LSTM hidden {args.lstm_hidden}); "
             f"{args.n_train} training sequences, 500 valid, 500 test; Adam, lr in {args.lrs} "
             "(the run with the best validation accuracy is shown), "
             f"batch 32, clip 1, at most {args.epochs} epochs, early stopping patience "
             f"{args.patience}; seed {args.seed}. Chance = 0.125.", "",
             "| gap | " + " | ".join(f"{c} (H={hidden_for_budget(c, budget)})"
                                    for c in args.cells) + " |",
             "|---:|" + "---:|" * len(args.cells)]
    for gap in args.gaps:
        cells: dict[str, dict] = {}
        for r in rows:  # the best validation accuracy over learning rates
            if r["gap"] == gap and (r["cell"] not in cells or (r["valid.acc"] or 0)
                                    > (cells[r["cell"]]["valid.acc"] or 0)):
                cells[r["cell"]] = r
        shown = []
        for c in args.cells:
            r = cells.get(c)
            if r is None or r["test.acc"] is None:
                shown.append(r["status"] if r else "-")
            else:
                shown.append(f"{r['test.acc']:.3f} (lr {r['lr']:g}, ep {r['best_epoch']}/"
                             f"{r['epochs']})")
        lines.append(f"| {gap} | " + " | ".join(shown) + " |")
    m = machine()
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores (shared), torch {m['torch']}, "
              f"{args.threads} thread(s). (ep = best epoch / epochs run)"]
    write_markdown("train_recall_gap", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
