"""JSB Chorales frame-level NLL for lstm, gru and Greff's vanilla LSTM (peepholes).

One layer, Adam, batches of whole pieces, early stopping on validation NLL; test NLL at the best
epoch's weights. Frame NLL = -sum over the 88 keys of log p(key), averaged over frames
(Boulanger-Lewandowski et al. 2012).

    python benchmarks/train_jsb.py --hidden 100 --epochs 40
"""

from __future__ import annotations

import argparse
import time

from train_common import DATA, machine, write_json, write_markdown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru", "vanilla"])
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = ap.parse_args()

    from lstm_search import zoo
    from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
    from lstm_search.evaluate import evaluate_candidate, resolve_candidate
    from lstm_search.tasks import make_task

    task_cfg = TaskConfig(name="jsb", data_dir=str(DATA))
    task = make_task(task_cfg)
    model = ModelConfig(hidden_size=args.hidden, num_layers=1, init_scale=None)
    train = TrainConfig(optimizer="adam", lr=args.lr, lr_schedule="none", epochs=args.epochs,
                        batch_size=8, clip=5.0, patience=args.patience, threads=args.threads,
                        progress=False, eval_batch_size=32)
    rows = []
    for seed in args.seeds:
        for cell in args.cells:
            t0 = time.perf_counter()
            cand = resolve_candidate(zoo.get(cell), cell, {}, task=task_cfg, model=model,
                                     train=train, seed=seed)
            r = evaluate_candidate(cand, task_obj=task)
            row = {"cell": cell, "seed": seed, "n_params": r.n_params, "status": r.status,
                   "error": r.error, "best_epoch": r.best_epoch, "epochs": r.epochs,
                   "valid.nll": r.metrics.get("valid.nll"), "test.nll": r.metrics.get("test.nll"),
                   "train.loss": r.metrics.get("train.loss"),
                   "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(row, flush=True)
            write_json("train_jsb", {"benchmark": "train_jsb", "machine": machine(),
                                     "args": vars(args), "rows": rows})
    m = machine()
    lines = ["# JSB Chorales: frame-level NLL (nats per frame, lower is better)", "",
             f"One layer, hidden {args.hidden}, Adam lr {args.lr}, batch 8 pieces, clip 5, at "
             f"most {args.epochs} epochs, early stopping patience {args.patience}. Machine: "
             f"{m['cpu']}, "
             f"{m['cores']} cores (shared), torch {m['torch']}, {args.threads} thread(s).", "",
             "| cell | seed | params | valid NLL | test NLL | best epoch / epochs | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["test.nll"] is None:
            lines.append(f"| {r['cell']} | {r['seed']} | {r['n_params']} | {r['status']} | "
                         f"{r['error']} | | |")
            continue
        lines.append(f"| {r['cell']} | {r['seed']} | {r['n_params']:,} | {r['valid.nll']:.3f} "
                     f"| {r['test.nll']:.3f} | {r['best_epoch']} / {r['epochs']} | "
                     f"{r['seconds']:.0f} |")
    write_markdown("train_jsb", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
