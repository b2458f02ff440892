"""Zaremba et al. (2014) small model on full PTB with the compiled ``lstm`` cell.

Per epoch: learning rate, training loss, valid and test perplexity (test with the epoch's
weights), wall time and tokens per second. The paper's small model reaches test perplexity
114.5 after 13 epochs. On a shared 2-core machine an epoch takes many minutes, so the run
stops at ``--max-minutes`` (resumable from its checkpoint) and records how many epochs ran.

    python benchmarks/train_zaremba.py --max-minutes 80
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from train_common import DATA, machine, write_json, write_markdown

PAPER_TEST_PPL = {13: 114.5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="zaremba-small")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--backend", default="script")
    ap.add_argument("--max-minutes", type=float, default=80.0)
    ap.add_argument("--checkpoint", default="/tmp/lstm_search_zaremba_ckpt")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (1 is faster than 2 on a loaded 2-core machine)")
    args = ap.parse_args()

    from lstm_search import zoo
    from lstm_search.config import TaskConfig, apply_overrides, preset
    from lstm_search.evaluate import build_model, n_parameters
    from lstm_search.tasks import make_task
    from lstm_search.train import evaluate_split, resolve_device, train

    model_cfg, train_cfg = preset(args.preset)
    model_cfg = apply_overrides(model_cfg, {"backend": args.backend})
    train_cfg = apply_overrides(train_cfg, {"max_seconds": args.max_minutes * 60,
                                            "threads": args.threads})
    task = make_task(TaskConfig(name="ptb", data_dir=str(DATA)))
    genome = zoo.get(args.cell)
    net = build_model(genome, task, model_cfg, train_cfg, seed=args.seed)
    device = resolve_device(train_cfg.device)
    info = {"benchmark": "train_zaremba", "preset": args.preset, "cell": args.cell,
            "backend": args.backend, "seed": args.seed, "machine": machine(),
            "model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(train_cfg),
            "n_params": n_parameters(net), "epochs": [], "paper_test_ppl": PAPER_TEST_PPL}
    name = f"train_zaremba_{args.preset.split('-')[-1]}_{args.cell}"

    def on_eval(epoch: int, metrics: dict[str, float], final: bool) -> None:
        t0 = time.perf_counter()
        test = evaluate_split(net, task, "test", batch_size=train_cfg.batch_size,
                              bptt=train_cfg.bptt, device=device)
        row = {**metrics, "test.ppl": test["ppl"], "test.nll": test["nll"],
               "test_eval_seconds": time.perf_counter() - t0}
        info["epochs"].append(row)
        write_json(name, info)
        print(f"epoch {epoch}: lr {metrics['lr']:.4g} train loss {metrics['train.loss']:.4f} "
              f"valid ppl {metrics['valid.ppl']:.2f} test ppl {test['ppl']:.2f} "
              f"{metrics['seconds']:.0f}s {metrics['train.tokens_per_second']:.0f} tok/s",
              flush=True)

    out = train(net, task, train_cfg, seed=args.seed, on_eval=on_eval,
                checkpoint_dir=args.checkpoint, genome_json=genome.to_json(None))
    info["outcome"] = {"status": out.status, "stop_reason": out.stop_reason,
                       "epochs": out.epochs, "best_epoch": out.best_epoch,
                       "metrics": out.metrics, "train_seconds": out.train_seconds,
                       "resumed_from_epoch": out.resumed_from_epoch}
    write_json(name, info)
    lines = [f"# {args.preset} on PTB, compiled `{args.cell}` ({args.backend})", "",
             f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores (shared), "
             f"torch {info['machine']['torch']}, {info['machine']['threads']} threads. "
             f"Parameters: {info['n_params']:,}.", "",
             "| epoch | lr | train loss | valid ppl | test ppl | epoch seconds | tokens/s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in info["epochs"]:
        lines.append(f"| {int(r['epoch'])} | {r['lr']:.4g} | {r['train.loss']:.4f} | "
                     f"{r['valid.ppl']:.2f} | {r['test.ppl']:.2f} | {r['seconds']:.0f} | "
                     f"{r['train.tokens_per_second']:.0f} |")
    lines += ["", f"Stopped: {out.stop_reason} ({out.epochs} of {train_cfg.epochs} epochs ran). "
              "Paper (Zaremba et al. 2014, small): test perplexity 114.5 after 13 epochs."]
    write_markdown(name, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
