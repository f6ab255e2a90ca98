"""A/B of the C core: the working tree's build against a git revision's, in one process.

The machines are shared and noisy: one step's time drifts by 10-30% between runs, so two builds
timed in separate processes cannot resolve a change of a few percent. This script builds the
extension at ``--base`` (default HEAD) in a temporary git worktree, loads it next to the working
tree's build (the same weights, the same input), and alternates the two step by step (ABBA), so
both see the same machine. It prints the medians and the ratio new/base of one DeepDream step
(loss_and_gradient), checks that the two gradients agree, and with ``--ops`` the per-op-kind
medians from the core's timers (``profile``).

    cd /work/main && python setup.py build_ext --inplace
    PYTHONPATH=/work/main python benchmarks/ab.py --base HEAD --rounds 24 --ops

Build flags: the base is built like the working tree (the same DEEPDREAM_CFLAGS from the
environment); the working tree's extension must be built already.
"""
from __future__ import annotations

import argparse
import collections
import glob
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_base(rev: str, into: str) -> str:
    """Builds the extension at `rev` and copies it to `into`/dd_base/; returns the package name."""
    tree = os.path.join(into, "tree")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, rev], check=True,
                   capture_output=True)
    try:
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree, check=True,
                       capture_output=True)
        built = glob.glob(os.path.join(tree, "deepdream", "_deepdream*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one built extension at {rev}, found {built}")
        package = os.path.join(into, "dd_base")
        os.makedirs(package)
        open(os.path.join(package, "__init__.py"), "w").close()
        shutil.copy(built[0], package)
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree], check=False,
                       capture_output=True)
    return "dd_base"


def alternate(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[Any]]:
    """Runs each callable once per round, in ABBA order; returns the results per name."""
    names = list(runs)
    results: dict[str, list[Any]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            results[n].append(runs[n]())
    return results


def timed(f: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter()
        f()
        return time.perf_counter() - t
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="HEAD", help="git revision to compare against")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--size", type=int, default=512, help="side of the square input")
    ap.add_argument("--layers", default="mixed3,mixed5")
    ap.add_argument("--rounds", type=int, default=20, help="timed steps per side")
    ap.add_argument("--ops", action="store_true", help="per-op-kind medians from profile() too")
    ap.add_argument("--each", action="store_true", help="with --ops: every op's row as well")
    args = ap.parse_args()

    import deepdream  # loads OpenBLAS before either extension
    from deepdream import _deepdream

    layers = args.layers.split(",")
    new = deepdream.InceptionV3(threads=args.threads)
    blocks = new._blocks(layers)
    x = np.random.default_rng(0).uniform(-1, 1, (args.size, args.size, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"building {args.base} ...", flush=True)
        sys.path.insert(0, tmp)
        base_core = importlib.import_module(build_base(args.base, tmp) + "._deepdream")
        base = base_core.Network([new.weights.get(f"conv2d_{i}") for i in range(1, 95)])
        nets = {"base": base, "new": new._net}

        (loss_b, grad_b), (loss_n, grad_n) = (n.loss_and_gradient(x, blocks, args.threads)
                                              for n in nets.values())
        if np.array_equal(grad_b, grad_n) and loss_b == loss_n:
            print("results: bit-identical")
        else:
            rel = np.linalg.norm(grad_n - grad_b) / np.linalg.norm(grad_b)
            print(f"results differ: loss {loss_b:.9g} vs {loss_n:.9g}, gradient relative L2 {rel:.2e}")

        steps = alternate({k: timed(lambda n=n: n.loss_and_gradient(x, blocks, args.threads))
                           for k, n in nets.items()}, args.rounds)
        mb, mn = statistics.median(steps["base"]), statistics.median(steps["new"])
        print(f"{args.size}x{args.size} {'+'.join(layers)}, {args.threads} threads, {args.rounds} "
              f"steps each: base {mb:.4f} s, new {mn:.4f} s (medians), new/base {mn / mb:.3f}")

        if args.ops:
            table = _deepdream.conv_table()

            def kinds(net: Any) -> Callable[[], dict[str, float]]:
                def run() -> dict[str, float]:
                    per: dict[str, float] = collections.defaultdict(float)
                    for i, (kind, conv, _, fwd, bwd) in enumerate(net.profile(x, blocks, 1, args.threads)):
                        if kind == "conv":
                            kh, kw, _, _, stride, _ = table[conv - 1]
                            kind = f"{kh}x{kw}/{stride}"
                            if args.each:
                                per[f"~ conv2d_{conv} {kind} fwd"] += fwd
                                per[f"~ conv2d_{conv} {kind} bwd"] += bwd
                        elif args.each:
                            per[f"~ op {i} {kind} fwd"] += fwd
                            per[f"~ op {i} {kind} bwd"] += bwd
                        per[kind + " fwd"] += fwd
                        per[kind + " bwd"] += bwd
                        per["total"] += fwd + bwd
                    return per
                return run

            prof = alternate({k: kinds(n) for k, n in nets.items()}, args.rounds)
            print("| op kind | base ms | new ms | new/base |\n|---|---|---|---|")
            for kind in sorted(prof["base"][0], key=lambda k: (k == "total", k.startswith("~"), k)):
                b = statistics.median(p[kind] for p in prof["base"]) * 1e3
                n = statistics.median(p[kind] for p in prof["new"]) * 1e3
                print(f"| {kind} | {b:.2f} | {n:.2f} | {n / b:.3f} |")


if __name__ == "__main__":
    main()
