"""Record the speed of every zoo cell against PyTorch's RNNs on this machine.

Writes benchmarks/results/cells-<date>-t<threads>[-quick].md and .json: forward + backward of
one layer, batch 20, 35 steps, input = hidden; every zoo cell at hidden 200 (eager, script and
native backends, plus compile for lstm), lstm and gru also at hidden 650. Ratios are to the
torch reference measured in the same process (torch.nn.LSTM; nn.GRU for gru, nn.RNN for
rnn_tanh). The native backend's first call includes building its library when the cache
(``$LSTM_SEARCH_CACHE``) does not have it yet: point it at an empty folder to record cold
builds, run again for warm ones.

    python benchmarks/bench_cells.py [--repeats 20] [--threads N] [--quick] [--no-compile]
                                     [--no-native] [--inference] [--hidden N] [--tag NAME]

``--hidden N`` times every zoo cell at hidden N instead (files ``cells-...-hN``): the issue's
"every zoo cell and backend at hidden 200 and 650" is the default run plus ``--hidden 650``.

``--inference`` times the forward alone under no_grad (files ``cells-...-inference``);
``--tag`` ends the file names with ``-NAME`` (e.g. the CPU, when two machines record on one
day).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch

from lstm_search import zoo
from lstm_search.bench import bench_cell, format_table, machine
from lstm_search.provenance import source_state

OUT = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    """The commit this runs, and "(uncommitted changes)" when files other than the records
    under benchmarks/results differ from it (a record written by an earlier run of a
    sequence of recordings is not a change to the code measured)."""
    state = source_state()
    if not state.commit or not state.dirty:
        return state.commit
    try:
        out = subprocess.run(["git", "diff", "HEAD", "--name-only", "--", ".",
                              ":(exclude)benchmarks/results"], cwd=OUT.parent.parent,
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return state.commit + " (uncommitted changes)"
    return state.commit + (" (uncommitted changes)" if out.strip() else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="lstm and gru at hidden 200 only")
    p.add_argument("--no-compile", action="store_true", help="skip the compile backend")
    p.add_argument("--no-native", action="store_true", help="skip the native backend")
    p.add_argument("--inference", action="store_true",
                   help="the forward alone under no_grad instead of forward + backward")
    p.add_argument("--hidden", type=int, default=None,
                   help="every zoo cell at this hidden size (default: 200, and lstm and gru "
                        "also at 650)")
    p.add_argument("--tag", default="", help="a suffix for the file names (letters, digits, -)")
    args = p.parse_args()
    if args.tag and not all(ch.isalnum() or ch == "-" for ch in args.tag):
        p.error(f"--tag {args.tag!r}: use letters, digits and '-'")
    if args.hidden is not None and not 1 <= args.hidden <= 4096:
        p.error(f"--hidden {args.hidden}: give a size from 1 to 4096")
    if args.hidden is not None and args.quick:
        p.error("--hidden times every zoo cell; --quick times lstm and gru: choose one")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    plan: list[tuple[str, int, tuple[str, ...]]] = []
    cells = ("lstm", "gru") if args.quick else zoo.names()
    native = () if args.no_native else ("native",)
    for c in cells:
        extra = ("compile",) if c == "lstm" and not args.no_compile else ()
        plan.append((c, args.hidden or 200, ("eager", "script", *native, *extra)))
    if not args.quick and args.hidden is None:
        plan += [("lstm", 650, ("eager", "script", *native)),
                 ("gru", 650, ("eager", "script", *native))]
    rows = []
    t0 = time.time()
    for cell, hidden, backends in plan:
        new = bench_cell(cell, hidden=hidden, backends=backends, repeats=args.repeats,
                         inference=args.inference)
        rows += new
        print(format_table(new).splitlines()[-len(new):], flush=True)
    info = machine()
    info["wall_s"] = round(time.time() - t0, 1)
    info["repeats"] = args.repeats
    info["commit"] = _commit()
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
        info["loadavg_after"] = " ".join(load)
    except OSError:
        pass
    OUT.mkdir(parents=True, exist_ok=True)
    quick = (("-quick" if args.quick else "") + ("-inference" if args.inference else "")
             + (f"-h{args.hidden}" if args.hidden is not None else "")
             + (f"-{args.tag}" if args.tag else ""))
    stem = OUT / f"cells-{time.strftime('%Y-%m-%d', time.gmtime())}-t{info['threads']}{quick}"
    stem.with_suffix(".json").write_text(json.dumps(
        {"machine": info, "rows": [r.to_dict() for r in rows]}, indent=2) + "\n")
    text = (f"# Compiled cells vs torch RNNs\n\n{info['cpu']}, {info['cores']} cores, torch "
            f"{info['torch']}, {info['threads']} threads, {info['date']}, commit "
            f"{info['commit'] or 'unknown'}, {args.repeats} "
            f"interleaved repetitions, batch 20, 35 steps, input = hidden"
            f"{f' = {args.hidden}' if args.hidden is not None else ''}, "
            f"{'forward under no_grad' if args.inference else 'forward + backward'}. "
            f"Load average after the run: {info.get('loadavg_after', '?')} (the machine's 2 "
            f"cores are shared).\n\n{format_table(rows)}\n")
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
