"""Where the time of one DeepDream step goes: every op of the forward and backward pass timed
inside the C core (``InceptionV3.profile``), grouped by kind, for 1 thread and for N threads.

    cd /work/main && PYTHONPATH=/work/main python benchmarks/op_profile.py
    ... benchmarks/op_profile.py --size 299 --repeats 10 --threads 2 --ops   # every op too

"GFLOP/s" counts each conv's naive multiply-adds (2 FLOPs each, forward and backward alike), as
benchmarks/bench.py does: Winograd convs do fewer, so they can exceed the sgemm figure printed
alongside. The timers are read around each op, so the threads' start and end are included.
"""
from __future__ import annotations

import argparse
import os
from collections import defaultdict

import numpy as np

import deepdream
from deepdream import _deepdream


def step_arguments(description: str) -> argparse.ArgumentParser:
    """The options of a profiled step (also op_compare.py's): --size, --layers, --repeats,
    --threads, --ops."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--layers", default="mixed3,mixed5")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--ops", action="store_true", help="print every op as well")
    return p


def main() -> None:
    args = step_arguments(__doc__.split("\n\n")[0]).parse_args()
    layers = args.layers.split(",")
    x = np.random.default_rng(0).uniform(-1, 1, (args.size, args.size, 3)).astype(np.float32)
    counts = sorted({1, args.threads})
    runs = {}
    for n in counts:
        model = deepdream.InceptionV3(threads=n)
        model.profile(x, layers)  # plans the workspace, faults its pages in
        runs[n] = model.profile(x, layers, args.repeats)
    groups: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    group_flops: dict[str, float] = defaultdict(float)
    for n in counts:
        for op in runs[n]:
            key = op.shape.split(" ")[0] if op.kind == "conv" else op.kind
            groups[key][n] += (op.forward_s + op.backward_s) / args.repeats
            if n == counts[0]:
                group_flops[key] += 4.0 * op.macs  # forward + backward, 2 FLOPs each
    sgemm = {n: 2 * 2048.0**3 / _deepdream.sgemm_seconds(2048, 3, n) / 1e9 for n in counts}
    total = {n: sum(g[n] for g in groups.values()) for n in counts}
    print(f"{args.size}x{args.size} {'+'.join(layers)}, forward + backward, mean of {args.repeats} passes")
    print("sgemm 2048^3: " + ", ".join(f"{n} thread(s) {sgemm[n]:.0f} GFLOP/s" for n in counts))
    head = "| op kind | " + " | ".join(f"ms ({n} thr) | share | GFLOP/s" for n in counts) + " |"
    print(head)
    print("|" + "---|" * (1 + 3 * len(counts)))
    for key in sorted(groups, key=lambda k: -groups[k][counts[-1]]):
        cells = []
        for n in counts:
            s = groups[key][n]
            rate = f"{group_flops[key] / s / 1e9:.0f}" if group_flops[key] else "-"
            cells.append(f"{s * 1e3:.1f} | {100 * s / total[n]:.0f}% | {rate}")
        print(f"| {key} | " + " | ".join(cells) + " |")
    all_flops = sum(group_flops.values())
    print("| total | " + " | ".join(f"{total[n] * 1e3:.1f} | 100% | {all_flops / total[n] / 1e9:.0f}"
                                    for n in counts) + " |")
    if args.ops:
        n = counts[-1]
        for op in runs[n]:
            print(f"{op.name:22s} {op.shape:18s} fwd {op.forward_s / args.repeats * 1e3:7.2f} ms  "
                  f"bwd {op.backward_s / args.repeats * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
