"""A NumPy sweep through optlab.run.trajectory against the same sweep written by hand.

The sweep: Adam on Rosenbrock from (-1, 1), one learning rate per configuration (geomspace
1e-4..1e-1, ``--configs`` of them, 10,000 by default), ``--steps`` steps (1,000). optlab's side is
``trajectory(optlab.Adam(lr=lrs[:, None]), Rosenbrock(), x0, steps)``, which records every
iterate and its value and watches every row for a blow-up. The hand-written loops are the same
arithmetic in torch.optim.Adam's order, batched, with no blow-up bookkeeping:

- "hand, NumPy, xs + values": records what the Trajectory holds (iterates and values);
- "hand, NumPy, xs only": records the iterates only, the least a sweep can keep;
- "hand, torch, xs + values": the first in float64 torch tensors on the CPU.

The script checks that every loop computes the same iterates as trajectory, bit for bit (NumPy)
or to 1e-12 (torch), so the ratios compare equal work. Each is timed ``--repeats`` times,
interleaved so that all meet the same load; best wall-clock and best CPU time (this process)
are printed, with their ratios to trajectory. ``--breakdown`` also times trajectory's parts on
their own (the same arrays and number of calls): where its time goes.

Run: python benchmarks/bench_sweep.py [--configs N] [--steps T] [--repeats R] [--breakdown]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import optlab
from optlab.objectives import Rosenbrock
from optlab.run import trajectory

X0 = np.array([-1.0, 1.0])
BETAS, EPS = (0.9, 0.999), 1e-8


def learning_rates(configs):
    return np.geomspace(1e-4, 1e-1, configs)[:, None]


def optlab_sweep(lrs, steps):
    result = trajectory(optlab.Adam(lr=lrs), Rosenbrock(), X0, steps)
    return result.xs


def hand_numpy(lrs, steps, record_values=True):
    """Adam, batched, as one would write it: torch.optim.Adam's order of operations."""
    f = Rosenbrock()
    beta1, beta2 = BETAS
    x = np.broadcast_to(X0, (len(lrs), 2)).copy()
    m, v = np.zeros_like(x), np.zeros_like(x)
    xs = np.empty((steps + 1, *x.shape))
    xs[0] = x
    if record_values:
        values = np.empty((steps + 1, len(lrs)))
        values[0] = f.value(x)
    for t in range(1, steps + 1):
        g = f.grad(x)
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        denom = np.sqrt(v) / (1 - beta2 ** t) ** 0.5
        denom += EPS
        x += (-lrs / (1 - beta1 ** t)) * (m / denom)
        xs[t] = x
        if record_values:
            values[t] = f.value(x)
    return xs


def hand_torch(lrs, steps):
    """The same loop on float64 torch tensors (CPU), with torch.optim.Adam's fused operations."""
    import torch

    f = Rosenbrock()
    beta1, beta2 = BETAS
    lr = torch.from_numpy(lrs)
    x = torch.from_numpy(np.broadcast_to(X0, (len(lrs), 2)).copy())
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    xs = torch.empty((steps + 1, *x.shape), dtype=x.dtype)
    values = torch.empty((steps + 1, len(lrs)), dtype=x.dtype)
    xs[0], values[0] = x, f.value(x)
    for t in range(1, steps + 1):
        a, b = x[:, 0], x[:, 1]  # Rosenbrock's gradient, a = 1, b = 100
        g = torch.stack([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)], 1)
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(EPS)
        x.addcdiv_(m * (-lr / (1 - beta1 ** t)), denom)
        xs[t], values[t] = x, f.value(x)
    return xs.numpy()


def best_times(functions, repeats):
    """Best wall-clock and best CPU time of each function, interleaved over `repeats` rounds."""
    wall, cpu, out = {k: [] for k in functions}, {k: [] for k in functions}, {}
    for _ in range(repeats):
        for label, function in functions.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            out[label] = function()
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
    return {k: min(v) for k, v in wall.items()}, {k: min(v) for k, v in cpu.items()}, out


def breakdown(lrs, steps):
    """trajectory's parts timed on their own, on its arrays, `steps` calls each (seconds)."""
    f, opt = Rosenbrock(), optlab.Adam(lr=lrs)
    x = np.broadcast_to(X0, (len(lrs), 2)).copy()
    g = f.grad(x)
    state = opt.init(x)
    rule, hyper = type(opt).rule, dict(opt.hyperparameters)
    limit = 1e12 * (1 + np.abs(f.value(x)))
    frozen = np.zeros(len(lrs), bool)
    xs, values = np.empty((steps + 1, *x.shape)), np.empty((steps + 1, len(lrs)))

    def timed(function):
        start = time.perf_counter()
        for t in range(1, steps + 1):
            function(t)
        return time.perf_counter() - start

    def bookkeeping(t):  # the whole-array tests of a step in which nothing diverges
        np.isfinite(np.sum(g))
        ok = np.isfinite(values[0]) & (np.abs(values[0]) <= limit)
        np.isfinite(np.sum(x))
        (~frozen & ~ok).any()

    def store(t):
        xs[t], values[t] = x, values[0]

    scratch = {"x": x.copy(), "state": opt.init(x)}
    parts = {
        "gradient (Rosenbrock.grad)": timed(lambda t: f.grad(x)),
        "value (Rosenbrock.value)": timed(lambda t: f.value(x)),
        "Adam rule alone (in place)": timed(lambda t: rule(scratch["x"], g, scratch["state"],
                                                           **hyper)),
        "step_'s checks and tree walk": timed(lambda t: opt._checked(x, g, state, False, True)),
        "blow-up bookkeeping": timed(bookkeeping),
        "storing xs[t], values[t]": timed(store),
    }
    pure = {"x": x.copy(), "state": opt.init(x)}

    def pure_step(t):
        pure["x"], pure["state"] = opt.step(pure["x"], g, pure["state"], check_finite=False)

    parts["(for comparison: pure step, copies)"] = timed(pure_step)
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch loop")
    parser.add_argument("--breakdown", action="store_true", help="time trajectory's parts")
    args = parser.parse_args()
    lrs = learning_rates(args.configs)

    functions = {
        "optlab trajectory (step_)": lambda: optlab_sweep(lrs, args.steps),
        "hand, NumPy, xs + values": lambda: hand_numpy(lrs, args.steps),
        "hand, NumPy, xs only": lambda: hand_numpy(lrs, args.steps, record_values=False),
    }
    if not args.no_torch:
        import torch

        torch.set_num_threads(args.threads)
        functions["hand, torch, xs + values"] = lambda: hand_torch(lrs, args.steps)
    wall, cpu, out = best_times(functions, args.repeats)

    reference = out["optlab trajectory (step_)"]
    print(f"Adam sweep on Rosenbrock: {args.configs} learning rates x {args.steps} steps, float64, "
          f"best of {args.repeats}; numpy {np.__version__}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'implementation':28} {'wall s':>8} {'CPU s':>8} {'traj/this wall':>15} "
          f"{'traj/this CPU':>14}  same iterates")
    for label in functions:
        same = (np.array_equal(out[label], reference) if "torch" not in label
                else bool(np.allclose(out[label], reference, rtol=1e-12, atol=1e-12)))
        print(f"{label:28} {wall[label]:8.3f} {cpu[label]:8.3f} "
              f"{wall[reference_label(functions)] / wall[label]:15.2f} "
              f"{cpu[reference_label(functions)] / cpu[label]:14.2f}  {same}")
    print("traj/this = trajectory's time divided by this loop's (the goal: <= 1.5 against the "
          "hand-written NumPy loop)")
    if args.breakdown:
        print(f"\nwhere trajectory's time goes ({args.steps} calls of each part, seconds):")
        for label, seconds in breakdown(lrs, args.steps).items():
            print(f"  {label:38} {seconds:7.3f}")


def reference_label(functions):
    return next(iter(functions))


if __name__ == "__main__":
    main()
