"""Adam and AdamW step time: optlab (NumPy path, torch path) against torch.optim.

Prints milliseconds per step (median of repeats) and each one's ratio to torch.optim's
single-tensor step (foreach=False) measured in the same run, for 1M and 10M float32 parameters
on the CPU, and on CUDA when a GPU is present. Run: python benchmarks/bench_adam.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import optlab


def median_ms(step, repeats, sync=lambda: None):
    for _ in range(3):  # warm-up: first-touch page faults and allocator caches
        step()
    sync()
    times = []
    for _ in range(repeats):
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    torch.manual_seed(0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
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
                reference = None
                for label, step in rows:
                    ms = median_ms(step, args.repeats, sync)
                    reference = reference or ms
                    print(f"{name:8} {device:6} {n / 1e6:>5.0f}M  {label:28} {ms:9.2f} {ms / reference:7.2f}")
    print("ratio = time / torch.optim single-tensor time, same algorithm, size and device, same run")


def _param(n, device):
    p = torch.nn.Parameter(torch.randn(n, device=device))
    p.grad = torch.randn(n, device=device) * 1e-2
    return p


if __name__ == "__main__":
    main()
