"""Which GEMM path the script (or native) backend should take on this CPU: packed oneDNN or
``F.linear``.

Runs ``lstm-search bench --cell CELL --backends BACKEND`` (default script) once with
``LSTM_SEARCH_ONEDNN=1`` (weights packed once per sequence, oneDNN products) and once with
``LSTM_SEARCH_ONEDNN=0`` (``F.linear``, MKL), at 1 and 2 threads and hidden 200 and 650, each
in its own process with its own torch.nn.LSTM reference measured in the same process, and
records the ratios. The default paths follow what this measured: the script backend packs on
AMD CPUs and takes ``F.linear`` on Intel ones
(:func:`lstm_search.compile._gemm.onednn_available`); the native backend takes ``F.linear``
unless ``LSTM_SEARCH_ONEDNN=1``.

    python benchmarks/gemm_path.py [--cell lstm] [--repeats 20] [--backend script|native]

Writes ``benchmarks/results/gemm_path-<date>[-native].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from train_common import machine, write_json, write_markdown


def ratio(cell: str, hidden: int, threads: int, onednn: str, repeats: int,
          backend: str = "script") -> dict:
    env = {**os.environ, "LSTM_SEARCH_ONEDNN": onednn}
    out = subprocess.run(
        [sys.executable, "-m", "lstm_search", "bench", "--cell", cell, "--hidden", str(hidden),
         "--backends", backend, "--threads", str(threads), "--repeats", str(repeats),
         "--json"], env=env, check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)["rows"]
    script = next(r for r in rows if r["impl"] == backend)
    torch_row = next(r for r in rows if r["impl"] != backend)
    return {"cell": cell, "hidden": hidden, "threads": threads, "onednn": onednn == "1",
            "torch_ms": torch_row["median_ms"], "script_ms": script["median_ms"],
            "ratio": script["ratio"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--backend", default="script", choices=("script", "native"))
    args = ap.parse_args()
    rows = []
    for threads in (1, 2):
        for hidden in (200, 650):
            for onednn in ("1", "0"):
                rows.append(ratio(args.cell, hidden, threads, onednn, args.repeats,
                                  args.backend))
                print(json.dumps(rows[-1]), flush=True)
    info = machine()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    name = f"gemm_path-{date}" + ("" if args.backend == "script" else f"-{args.backend}")
    write_json(name, {"machine": info, "rows": rows})
    lines = [f"# GEMM path of the {args.backend} backend: packed oneDNN vs F.linear "
             f"({args.cell})", "",
             f"{info['cpu']}, {info['cores']} cores (shared), torch {info['torch']}, "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, batch 20, 35 steps, forward + "
             f"backward, {args.repeats} interleaved repetitions per process. Ratio: "
             f"{args.backend} / torch.nn.LSTM measured in the same process.", "",
             f"| threads | hidden | torch ms (packed run) | {args.backend} / torch, packed oneDNN "
             f"| torch ms (F.linear run) | {args.backend} / torch, F.linear |",
             "|---:|---:|---:|---:|---:|---:|"]
    for i in range(0, len(rows), 2):
        on, off = rows[i], rows[i + 1]
        lines.append(f"| {on['threads']} | {on['hidden']} | {on['torch_ms']:.2f} | "
                     f"{on['ratio']:.2f} | {off['torch_ms']:.2f} | {off['ratio']:.2f} |")
    text = "\n".join(lines)
    print(text)
    print(f"wrote {write_markdown(name, text)}")


if __name__ == "__main__":
    main()
