"""Compiled ``lstm`` vs ``torch.nn.LSTM``: one epoch of the same language model on a PTB slice.

Both start from the same weights (torch's LSTM copied into the compiled stack with
``load_torch_weights``; embedding and decoder copied) and train with the same seed and the
Zaremba small recipe (2x200, batch 20, unroll 20, SGD lr 1, clip 5) in float32 (or float64 with
``--dtype float64``). Recorded: the
per-batch loss curves, their largest difference, validation/test perplexity and wall time.

    python benchmarks/train_parity.py --subset 0.05

``--perturb EPS`` is the control: instead of the compiled cell, a second torch.nn.LSTM whose
initial weights differ from the first by a relative EPS (1e-7: about one float32 rounding).
Training at lr 1 amplifies any difference exponentially; if the two torch runs drift apart
like torch and the compiled cell do, the drift measures the recipe's sensitivity, not an error
of the compiled cell.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from train_common import DATA, machine, write_json, write_markdown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subset", type=float, default=0.05, help="fraction of PTB train")
    ap.add_argument("--eval-subset", type=float, default=0.2)
    ap.add_argument("--backend", default="script")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--perturb", type=float, default=0.0,
                    help="control run: torch.nn.LSTM against itself with its initial weights "
                         "scaled by 1 +- EPS")
    args = ap.parse_args()

    import torch

    from lstm_search import zoo
    from lstm_search.config import TaskConfig, apply_overrides, preset
    from lstm_search.evaluate import build_model
    from lstm_search.nn import LanguageModel, load_torch_weights
    from lstm_search.tasks import make_task
    from lstm_search.train import train

    model_cfg, train_cfg = preset("zaremba-small")
    model_cfg = apply_overrides(model_cfg, {"backend": args.backend})
    train_cfg = apply_overrides(train_cfg, {"epochs": 1, "threads": args.threads,
                                            "progress": False, "dtype": args.dtype})
    task = make_task(TaskConfig(name="ptb", data_dir=str(DATA), subset=args.subset,
                                eval_subset=args.eval_subset))
    h, layers = model_cfg.hidden_size, model_cfg.num_layers
    torch.manual_seed(args.seed)
    reference = LanguageModel(torch.nn.LSTM(h, h, num_layers=layers),
                              vocab_size=task.vocab_size, hidden_size=h)
    with torch.no_grad():
        for p in reference.parameters():
            p.uniform_(-model_cfg.init_scale, model_cfg.init_scale)
    compiled = build_model(zoo.get("lstm"), task, model_cfg, train_cfg, seed=args.seed)
    load_torch_weights(compiled.rnn, reference.rnn)
    compiled.embedding.load_state_dict(reference.embedding.state_dict())
    compiled.decoder.load_state_dict(reference.decoder.state_dict())

    second, second_name = compiled, f"compiled lstm ({args.backend})"
    if args.perturb:
        import copy

        second = copy.deepcopy(reference)
        gen = torch.Generator().manual_seed(args.seed + 1)
        with torch.no_grad():
            for p in second.rnn.parameters():
                signs = torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1
                p.mul_(1 + args.perturb * signs)
        second_name = f"torch.nn.LSTM, weights x (1 +- {args.perturb:g})"
    curves: dict[str, list[float]] = {}
    rows = {}
    for name, net in (("torch.nn.LSTM", reference), (second_name, second)):
        curve: list[float] = []
        t0 = time.perf_counter()
        out = train(net, task, train_cfg, seed=args.seed,
                    on_batch=lambda e, b, loss, curve=curve: curve.append(loss))
        curves[name] = curve
        rows[name] = {"status": out.status, "seconds": time.perf_counter() - t0,
                      "tokens_per_second": out.tokens_per_second, **out.metrics}
        print(name, rows[name], flush=True)
    a, b = curves.values()
    diffs = [abs(x - y) for x, y in zip(a, b)]
    info = {"benchmark": "train_parity", "machine": machine(), "args": vars(args),
            "model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(train_cfg),
            "batches": len(a), "max_abs_loss_diff": max(diffs),
            "max_abs_loss_diff_first_10": max(diffs[:10]), "final_loss_diff": diffs[-1],
            "runs": rows, "curves": curves}
    out_name = ("train_parity" + ("" if args.dtype == "float32" else f"_{args.dtype}")
                + ("_control" if args.perturb else ""))
    write_json(out_name, info)
    names = list(rows)
    title = ("control: torch.nn.LSTM vs itself, perturbed" if args.perturb
             else "compiled `lstm` vs torch.nn.LSTM")
    lines = [f"# Training-loop parity: {title} (PTB slice, 1 epoch)", "",
             f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores (shared, "
             f"load {info['machine']['load_average_at_start'][0]:.1f}), torch "
             f"{info['machine']['torch']}, {args.threads} thread(s). Zaremba small recipe, "
             f"PTB train subset {args.subset}, valid/test subset {args.eval_subset}, {args.dtype}, "
             f"same initial weights and seed.", "",
             "| model | train loss | valid ppl | test ppl | seconds | tokens/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        r = rows[n]
        lines.append(f"| {n} | {r['train.loss']:.5f} | {r['valid.ppl']:.3f} | "
                     f"{r['test.ppl']:.3f} | {r['seconds']:.1f} | {r['tokens_per_second']:.0f} |")
    lines += ["", f"Per-batch loss curves ({len(a)} batches): largest |difference| "
              f"{max(diffs):.2e} (first 10 batches: {max(diffs[:10]):.2e}; last batch "
              f"{diffs[-1]:.2e}).", "",
              "| batch | " + " | ".join(names) + " |", "|---:|---:|---:|"]
    for i in sorted({*range(0, len(a), max(1, len(a) // 12)), len(a) - 1}):
        lines.append(f"| {i + 1} | {a[i]:.5f} | {b[i]:.5f} |")
    write_markdown(out_name, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
