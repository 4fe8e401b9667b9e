"""Adam and AdamW step time: optlab (NumPy path, torch path) against torch.optim.

Prints milliseconds per step (median of repeats) and each one's ratio to torch.optim's
single-tensor step (foreach=False) measured in the same run, for 1M and 10M float32 parameters
on the CPU, and on CUDA when a GPU is present. Run: python benchmarks/bench_adam.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

import optlab


def median_ms(step, repeats, sync=lambda: None, min_seconds=1.0):
    """Median wall time of one step, over at least `repeats` steps and `min_seconds` seconds."""
    for _ in range(10):  # warm-up: first-touch page faults, allocator caches, moments away from 0
        step()
    sync()
    times = []
    started = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - started < min_seconds:
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def torch_step(torch_class, kwargs, n, device, **mode):
    p = torch.nn.Parameter(torch.randn(n, device=device))
    p.grad = torch.randn(n, device=device) * 1e-2
    opt = torch_class([p], **kwargs, **mode)
    return opt.step


def optlab_torch_step(optlab_opt, n, device):
    p = torch.nn.Parameter(torch.randn(n, device=device))
    p.grad = torch.randn(n, device=device) * 1e-2
    return optlab.torch_optimizer(optlab_opt, [p]).step


def optlab_numpy_step(optlab_opt, n):
    rng = np.random.default_rng(0)
    box = {"x": rng.standard_normal(n, dtype=np.float32)}
    grad = (rng.standard_normal(n, dtype=np.float32) * 1e-2).astype(np.float32)
    box["state"] = optlab_opt.init(box["x"])

    def step():
        box["x"], box["state"] = optlab_opt.step(box["x"], grad, box["state"])

    return step


# glibc's malloc serves a large block from a fresh mmap (page faults on every touch) or from its
# heap, and moves that threshold as the process frees memory. Which of the two a temporary gets
# then depends on what ran before, and the same kernel's time changes by 3x or more from one
# measurement to the next. Pinning both thresholds makes every implementation allocate the same
# way, so the ratios compare the update rules rather than allocator history.
MALLOC_SETTINGS = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}


def pin_malloc():
    if any(os.environ.get(k) != v for k, v in MALLOC_SETTINGS.items()) and "--default-malloc" not in sys.argv:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_SETTINGS})


def main():
    pin_malloc()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds over the implementations (evens out drifting load)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="keep glibc's adaptive malloc thresholds (noisier, see MALLOC_SETTINGS)")
    args = parser.parse_args()
    torch.manual_seed(0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("malloc: " + ("glibc defaults" if args.default_malloc else
                         ", ".join(f"{k}={v}" for k, v in MALLOC_SETTINGS.items())))
    print(f"torch {torch.__version__}, numpy {np.__version__}, CPU threads {torch.get_num_threads()}"
          + (f", GPU {torch.cuda.get_device_name()}" if "cuda" in devices else ", no GPU"))
    algorithms = [
        ("Adam", torch.optim.Adam, dict(lr=1e-3), lambda: optlab.Adam(lr=1e-3)),
        ("AdamW", torch.optim.AdamW, dict(lr=1e-3, weight_decay=1e-2),
         lambda: optlab.AdamW(lr=1e-3, weight_decay=1e-2)),
    ]
    header = f"{'algorithm':8} {'device':6} {'params':>6}  {'implementation':28} {'ms/step':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for device in devices:
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        for name, torch_class, kwargs, make in algorithms:
            for n in args.sizes:
                rows = [
                    ("torch.optim single-tensor", torch_step(torch_class, kwargs, n, device, foreach=False)),
                    ("torch.optim foreach", torch_step(torch_class, kwargs, n, device, foreach=True)),
                    ("torch.optim fused", torch_step(torch_class, kwargs, n, device, fused=True)),
                    ("optlab torch path", optlab_torch_step(make(), n, device)),
                    ("optlab torch path, no check", optlab.torch_optimizer(
                        make(), [_param(n, device)], check_finite=False).step),
                ]
                if device == "cpu":
                    rows.append(("optlab NumPy step (pure)", optlab_numpy_step(make(), n)))
                samples = {label: [] for label, _ in rows}
                for _ in range(args.rounds):
                    for label, step in rows:
                        samples[label].append(median_ms(step, args.repeats, sync,
                                                        min_seconds=1.0 / args.rounds))
                reference = statistics.median(samples[rows[0][0]])
                for label, _ in rows:
                    ms = statistics.median(samples[label])
                    print(f"{name:8} {device:6} {n / 1e6:>5.0f}M  {label:28} {ms:9.2f} {ms / reference:7.2f}")
    print("ratio = time / torch.optim single-tensor time, same algorithm, size and device, same run")


def _param(n, device):
    p = torch.nn.Parameter(torch.randn(n, device=device))
    p.grad = torch.randn(n, device=device) * 1e-2
    return p


if __name__ == "__main__":
    main()
