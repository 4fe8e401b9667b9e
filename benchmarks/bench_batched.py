"""Batched training against the same runs one by one with torch.optim, timed in the same run.

    .venv/bin/python benchmarks/bench_batched.py [--threads 1] [--epochs 3] [--repeats 3]

The grid: 8 learning rates × 2 weight decays × 4 seeds = 64 configurations of AdamW on an MLP
(64 → 32 → 10, ReLU) on scikit-learn's digits, minibatches of 128, float64, evaluated (train
loss, test loss and accuracy) after every epoch. The batched path is one call to
``optlab.train.train_batched``; the reference is the plain PyTorch loop a reader would write
(``torch.manual_seed(seed)``, ``nn.Sequential``, ``torch.optim.AdamW``, ``torch.randperm`` per
epoch), run 64 times. Both produce the same numbers (printed: the largest relative differences
in the final parameters and in the per-epoch train and test losses, and whether the test
accuracies are identical), so the ratio compares equal work. Each side takes the best of
``--repeats`` timings, the two interleaved so that both meet the same load;
``torch.set_num_threads(--threads)`` applies to both. The ratio is of wall-clock times; the
process's CPU time is printed too, a steadier figure at one thread on a shared machine (with
more threads it adds up all of them, spin-waits included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import optlab
from optlab.datasets import load_digits
from optlab.models import MLP
from optlab.train import grid, train_batched


def one_by_one(model, data, g, epochs, batch_size):
    """The 64 plain runs: each one's final state_dict and its (train loss, test loss, test
    accuracy) after each epoch, as tensors (read after the timing)."""
    finals, curves = [], []
    n = len(data.y_train)
    for lr, wd, seed in zip(g["lr"], g["weight_decay"], g["seed"]):
        torch.manual_seed(int(seed))
        net = model.torch_module()
        opt = torch.optim.AdamW(net.parameters(), lr=float(lr), weight_decay=float(wd))
        for _ in range(epochs):
            order = torch.randperm(n)
            for start in range(0, n, batch_size):
                i = order[start:start + batch_size]
                loss = F.cross_entropy(net(data.x_train[i]), data.y_train[i])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():  # the same per-epoch evaluation train_batched makes
                train = F.cross_entropy(net(data.x_train), data.y_train)
                logits = net(data.x_test)
                curves.append((train, F.cross_entropy(logits, data.y_test),
                               (logits.argmax(1) == data.y_test).double().mean()))
        finals.append(net.state_dict())
    return finals, curves


def best_times(functions, repeats):
    """The best wall-clock time and the best CPU time (this process, all threads) of each
    function over `repeats` rounds, the functions interleaved within each round so that both see
    the same load on a shared machine; and their last outputs."""
    times, cpu, outs = [[] for _ in functions], [[] for _ in functions], [None] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            start, start_cpu = time.perf_counter(), time.process_time()
            outs[i] = function()
            times[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    return [min(t) for t in times], [min(t) for t in cpu], outs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_digits()
    model = MLP(data.features, data.classes, hidden=(32,))
    g = grid(lr=np.geomspace(1e-4, 1e-1, 8), weight_decay=[0.0, 1e-2], seed=range(4))
    opt = optlab.AdamW(lr=g["lr"], weight_decay=g["weight_decay"])
    batch_size = 128

    (batched_s, single_s), (batched_cpu, single_cpu), (result, (finals, curves)) = best_times(
        [lambda: train_batched(opt, model, data, g["seed"], epochs=args.epochs,
                               batch_size=batch_size),
         lambda: one_by_one(model, data, g, args.epochs, batch_size)], args.repeats)
    worst = max(float(((result.params[k][i] - final[k]).abs().max() / final[k].abs().max()))
                for i, final in enumerate(finals) for k in final)
    # the plain runs' evaluations after each epoch, (configuration, epoch) like the result's
    train_loss, test_loss, test_accuracy = (
        np.array([float(c[j]) for c in curves]).reshape(g.size, args.epochs) for j in range(3))
    worst_loss = max(float(np.max(np.abs(ours[:, 1:] / theirs - 1)))
                     for ours, theirs in ((result.train_loss, train_loss),
                                          (result.test_loss, test_loss)))
    same_accuracy = np.array_equal(result.test_accuracy[:, 1:], test_accuracy)
    steps = result.step_loss.shape[1]
    print(f"{g.size} configurations ({g!r}), {model!r}, AdamW, {args.epochs} epochs "
          f"({steps} steps of batch {batch_size}), float64, torch.set_num_threads({args.threads}), "
          f"best of {args.repeats}")
    print(f"batched (optlab.train.train_batched): {batched_s:.3f} s  (CPU time "
          f"{batched_cpu:.3f} s)")
    print(f"one by one (torch.optim.AdamW loop):  {single_s:.3f} s  (CPU time {single_cpu:.3f} s)")
    print(f"ratio: {single_s / batched_s:.2f}x faster batched  (CPU time: "
          f"{single_cpu / batched_cpu:.2f}x)")
    print(f"largest relative difference in the final parameters: {worst:.2e}; in the per-epoch "
          f"train and test losses: {worst_loss:.2e}; test accuracies identical: {same_accuracy}")
    print(f"best final test accuracy: {result.final_test_accuracy.max():.4f}")


if __name__ == "__main__":
    main()
