"""optlab's torch path, impl="single" | "foreach" | "fused", against torch.optim, every optimizer.

Two shapes (``--shapes``): "one", one tensor of ``--size`` parameters (10M); "mixed",
``--count`` tensors (200) whose sizes run geometrically from ``--min-size`` (256) to
``--max-size`` (1M). Each algorithm runs, in the same process and interleaved over ``--rounds``
rounds so that all meet the same load: torch.optim's single-tensor (``foreach=False``), foreach
and, where torch has one, fused step; optlab's three impls (``check_finite=False``, as torch.optim
checks nothing); optlab's fused step with ``check_finite=True`` (Adam only: what the check and its
copies cost); and, for the one-tensor shape, the NumPy path's in-place ``step_``. Each time is
the median over at least ``--repeats`` steps; a ratio is time / the reference's time, same
algorithm, shape and device. Compile times are printed apart: the wall time of the first fused
step (a fresh inductor cache directory unless ``--warm-cache``), less a steady step.

The goals of issue 11 are checked at the end: fused <= 1.2x torch fused (Adam, AdamW, SGD,
Adagrad), fused <= 0.5x torch foreach (NAdam, RAdam, RMSprop, Adamax), mixed shape: fused <= 1.5x
torch fused (Adam); and the NumPy sweep (``bench_sweep.py``, ``--sweep-configs`` x
``--sweep-steps``) <= 1.5x a hand-written loop.

Run: python benchmarks/bench_fast.py [--shapes one mixed] [--algorithms Adam NAdam ...]
         [--size N] [--count N] [--repeats N] [--rounds N] [--threads N] [--no-sweep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_adam import median_ms, pin_malloc  # noqa: E402  (glibc thresholds: see bench_adam.py)

import torch  # noqa: E402

import optlab  # noqa: E402

try:  # the authors' packages for AdaBound and AdaMod (single-tensor references)
    import adabound
    import adamod
except ImportError:  # pragma: no cover
    adabound = adamod = None


def algorithms():
    """name -> (torch class or None, torch kwargs, optlab maker, torch has fused on the CPU)."""
    t = torch.optim
    table = {
        "SGD": (t.SGD, dict(lr=1e-3, momentum=0.9), lambda: optlab.SGD(lr=1e-3, momentum=0.9),
                True),
        "Adagrad": (t.Adagrad, dict(lr=1e-2), lambda: optlab.Adagrad(lr=1e-2), True),
        "RMSprop": (t.RMSprop, dict(lr=1e-3), lambda: optlab.RMSprop(lr=1e-3), False),
        "Adam": (t.Adam, dict(lr=1e-3), lambda: optlab.Adam(lr=1e-3), True),
        "AdamW": (t.AdamW, dict(lr=1e-3, weight_decay=1e-2),
                  lambda: optlab.AdamW(lr=1e-3, weight_decay=1e-2), True),
        "Adamax": (t.Adamax, dict(lr=2e-3), lambda: optlab.Adamax(lr=2e-3), False),
        "NAdam": (t.NAdam, dict(lr=2e-3), lambda: optlab.NAdam(lr=2e-3), False),
        "RAdam": (t.RAdam, dict(lr=1e-3), lambda: optlab.RAdam(lr=1e-3), False),
        "AdaBound": (None if adabound is None else adabound.AdaBound, dict(lr=1e-3),
                     lambda: optlab.AdaBound(lr=1e-3), False),
        "AdaMod": (None if adamod is None else adamod.AdaMod, dict(lr=1e-3),
                   lambda: optlab.AdaMod(lr=1e-3), False),
        "FAdam": (None, {}, lambda: optlab.FAdam(lr=1e-3), False),
        "CautiousAdamW": (None, {}, lambda: optlab.Cautious(optlab.AdamW(lr=1e-3)), False),
    }
    return table


GOALS = [  # (algorithm, shape, optlab row, reference row, at most)
    *[(name, "one", "optlab fused", "torch fused", 1.2) for name in ("Adam", "AdamW", "SGD",
                                                                     "Adagrad")],
    *[(name, "one", "optlab fused", "torch foreach", 0.5) for name in ("NAdam", "RAdam",
                                                                       "RMSprop", "Adamax")],
    ("Adam", "mixed", "optlab fused", "torch fused", 1.5),
]


def sizes(shape, args):
    if shape == "one":
        return [args.size]
    return [int(round(s)) for s in np.geomspace(args.min_size, args.max_size, args.count)]


def tensors(shape_sizes, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    params = []
    for n in shape_sizes:
        p = torch.nn.Parameter(torch.randn(n, generator=generator).to(device))
        p.grad = (torch.randn(n, generator=generator) * 1e-2).to(device)
        params.append(p)
    return params


def numpy_step(make, n):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    grad = (rng.standard_normal(n, dtype=np.float32) * 1e-2).astype(np.float32)
    opt = make()
    state = opt.init(x)
    return lambda: opt.step_(x, grad, state, check_finite=False)


def rows_for(name, shape, shape_sizes, device, args, compile_times):
    torch_class, torch_kwargs, make, has_fused = algorithms()[name]
    rows = []
    if torch_class is not None:
        rows.append(("torch single", torch_class(tensors(shape_sizes, device), **torch_kwargs,
                                                 **_foreach_kw(torch_class, False)).step))
        if _takes(torch_class, "foreach"):
            rows.append(("torch foreach", torch_class(tensors(shape_sizes, device),
                                                      **torch_kwargs, foreach=True).step))
        if has_fused or device != "cpu" and _takes(torch_class, "fused"):
            rows.append(("torch fused", torch_class(tensors(shape_sizes, device), **torch_kwargs,
                                                    fused=True).step))
    for impl in ("single", "foreach", "fused"):
        optimizer = optlab.torch_optimizer(make(), tensors(shape_sizes, device), impl=impl,
                                           check_finite=False)
        if impl == "fused":  # the first steps compile what this shape needs (one kernel whose
            # loops run on all threads for the 10M tensor; a one-thread one too for small ones)
            compile_times[(name, shape, device)] = _first_step(optimizer.step, device)
        rows.append((f"optlab {impl}", optimizer.step))
    if name == "Adam":
        rows.append(("optlab fused, check_finite", optlab.torch_optimizer(
            make(), tensors(shape_sizes, device), impl="fused").step))
    if shape == "one" and device == "cpu" and args.numpy:
        rows.append(("optlab NumPy step_", numpy_step(make, shape_sizes[0])))
    return rows


def _first_step(step, device):
    """Seconds of the first two steps less two steady ones: the compile (SGD's first step, with
    no momentum buffer yet, runs foreach, and its second compiles)."""
    sync = _sync(device)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times[0] + times[1] - 2 * min(times[2:])


def _takes(cls, argument):
    import inspect

    try:
        return argument in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _foreach_kw(cls, value):
    return {"foreach": value} if _takes(cls, "foreach") else {}


def _sync(device):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["one", "mixed"], choices=["one", "mixed"])
    parser.add_argument("--algorithms", nargs="+", default=list(algorithms()))
    parser.add_argument("--size", type=int, default=10_000_000, help="the one tensor's size")
    parser.add_argument("--count", type=int, default=200, help="mixed: number of tensors")
    parser.add_argument("--min-size", type=int, default=256)
    parser.add_argument("--max-size", type=int, default=1 << 20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.5,
                        help="least time per row and round")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--devices", nargs="+", default=None)
    parser.add_argument("--no-numpy", dest="numpy", action="store_false")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false")
    parser.add_argument("--sweep-configs", type=int, default=10_000)
    parser.add_argument("--sweep-steps", type=int, default=1_000)
    parser.add_argument("--warm-cache", action="store_true",
                        help="keep inductor's cache (compile times then show a warm cache)")
    parser.add_argument("--default-malloc", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
          + (f", GPU {torch.cuda.get_device_name()}" if "cuda" in devices else ", no GPU"))
    print(f"inductor cache: {os.environ.get('TORCHINDUCTOR_CACHE_DIR', 'default')}")
    header = (f"{'algorithm':14} {'dev':4} {'shape':6} {'implementation':28} {'ms/step':>9} "
              f"{'/t.single':>9} {'/t.foreach':>10} {'/t.fused':>9} {'/o.single':>9}")
    print(header)
    print("-" * len(header))
    results, compile_times = {}, {}
    for device in devices:
        sync = _sync(device)
        for shape in args.shapes:
            shape_sizes = sizes(shape, args)
            for name in args.algorithms:
                rows = rows_for(name, shape, shape_sizes, device, args, compile_times)
                samples = {label: [] for label, _ in rows}
                for _ in range(args.rounds):
                    for label, step in rows:
                        samples[label].append(median_ms(step, args.repeats, sync,
                                                        args.seconds))
                ms = {label: statistics.median(v) for label, v in samples.items()}
                results[(name, device, shape)] = ms
                for label in ms:
                    ratios = [ms[label] / ms[ref] if ref in ms else float("nan")
                              for ref in ("torch single", "torch foreach", "torch fused",
                                          "optlab single")]
                    print(f"{name:14} {device:4} {shape:6} {label:28} {ms[label]:9.2f} "
                          + " ".join(f"{r:9.2f}" if r == r else f"{'-':>9}" for r in ratios))
                del rows
    print(f"shapes: one = 1 tensor of {args.size:,}; mixed = {args.count} tensors of "
          f"{args.min_size:,} to {args.max_size:,} ({sum(sizes('mixed', args)):,} in all); float32")
    print("\ncompile (first two fused steps less two steady ones), seconds; the mixed shape adds "
          "the one-thread kernel for its small tensors:")
    for (name, shape, device), seconds in compile_times.items():
        print(f"  {name:14} {device:4} {shape:6} {seconds:6.1f}")

    print("\ngoals (issue 11), CPU:")
    for name, shape, ours, reference, limit in GOALS:
        ms = results.get((name, "cpu", shape))
        if ms is None or reference not in ms:
            continue
        ratio = ms[ours] / ms[reference]
        print(f"  {name:8} {shape:6} {ours} / {reference}: {ratio:.2f} (goal <= {limit}) "
              f"{'met' if ratio <= limit else 'NOT met'}")

    if args.sweep:
        import bench_sweep

        lrs = bench_sweep.learning_rates(args.sweep_configs)
        wall, cpu, _ = bench_sweep.best_times({
            "trajectory": lambda: bench_sweep.optlab_sweep(lrs, args.sweep_steps),
            "hand": lambda: bench_sweep.hand_numpy(lrs, args.sweep_steps),
        }, args.rounds)
        ratio = wall["trajectory"] / wall["hand"]
        print(f"  NumPy sweep {args.sweep_configs} x {args.sweep_steps}: trajectory "
              f"{wall['trajectory']:.3f} s, hand-written loop {wall['hand']:.3f} s: {ratio:.2f} "
              f"(CPU time {cpu['trajectory'] / cpu['hand']:.2f}) (goal <= 1.5) "
              f"{'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    import atexit
    import shutil
    import warnings

    warnings.filterwarnings("ignore", "This overload of", UserWarning)  # the authors' packages
    if "--warm-cache" not in sys.argv and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_fast_inductor_")
        os.environ["BENCH_FAST_OWNS_CACHE"] = "1"
    if os.environ.get("BENCH_FAST_OWNS_CACHE") == "1":
        atexit.register(shutil.rmtree, os.environ["TORCHINDUCTOR_CACHE_DIR"], True)
    pin_malloc()  # (re-executes this script once, with the environment above)
    main()
