"""optlab.schedules: every schedule is torch.optim.lr_scheduler's, as a pure function of the step.

The reference is the loop torch documents: an optimizer with two parameter groups of different
lrs (float64 parameters), torch's scheduler, and ``opt.step(); sched.step()`` T times, with
every warning turned into an error (so the order of the calls is the intended one and nothing
leaks). After t scheduler steps group i's lr must be ``s(lr_i, t)`` to 1e-12, relative, for
t = 0..T, T well past T_max, the milestones and several restarts. torch's recursive updates and
the closed forms used here agree to ~1e-14 over these runs (the module docstring gives the
figures); the non-recursive ones (warm restarts, one-cycle) to the bit.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as L

import optlab
from optlab import schedules as S
from optlab.datasets import load_digits
from optlab.models import LogisticRegression
from optlab.objectives import Quadratic
from optlab.run import trajectory
from optlab.train import train_batched
from test_train import assert_row_matches, reference

RTOL = 1e-12
LRS = (0.1, 0.037)  # the two parameter groups' lrs


def torch_lrs(make_scheduler, steps, lrs=LRS):
    """Each group's lr after 0, 1, ..., steps scheduler steps: shape (steps + 1, groups)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params = [torch.zeros(3, dtype=torch.float64, requires_grad=True) for _ in lrs]
        opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)],
                              momentum=0.9)
        scheduler = make_scheduler(opt)
        out = [[group["lr"] for group in opt.param_groups]]
        for _ in range(steps):
            for p in params:
                p.grad = torch.ones_like(p)
            opt.step()
            scheduler.step()
            out.append([group["lr"] for group in opt.param_groups])
    return np.array(out, dtype=np.float64)


def ours(schedule, steps, lrs=LRS):
    return np.array([[schedule(lr, t) for lr in lrs] for t in range(steps + 1)])


def seq(opt, pieces, milestones):
    return L.SequentialLR(opt, [make(opt) for make in pieces], milestones=milestones)


# (torch scheduler from an optimizer, the optlab schedule, T)
CASES = {
    "StepLR": (lambda o: L.StepLR(o, 7, gamma=0.5), S.StepLR(7, gamma=0.5), 100),
    "StepLR-default": (lambda o: L.StepLR(o, 3), S.StepLR(3), 40),
    "StepLR-grow": (lambda o: L.StepLR(o, 1, gamma=1.05), S.StepLR(1, gamma=1.05), 60),
    "MultiStepLR": (lambda o: L.MultiStepLR(o, [10, 30, 30, 55], gamma=0.3),
                    S.MultiStepLR([30, 10, 55, 30], gamma=0.3), 100),
    "MultiStepLR-at-0": (lambda o: L.MultiStepLR(o, [0, 4]), S.MultiStepLR([0, 4]), 20),
    "ExponentialLR": (lambda o: L.ExponentialLR(o, 0.99), S.ExponentialLR(0.99), 1200),
    "ExponentialLR-grow": (lambda o: L.ExponentialLR(o, 1.01), S.ExponentialLR(1.01), 300),
    "CosineAnnealingLR": (lambda o: L.CosineAnnealingLR(o, 110), S.CosineAnnealingLR(110), 600),
    "CosineAnnealingLR-eta_min": (lambda o: L.CosineAnnealingLR(o, 7, eta_min=1e-3),
                                  S.CosineAnnealingLR(7, eta_min=1e-3), 100),
    "CosineAnnealingLR-T1": (lambda o: L.CosineAnnealingLR(o, 1), S.CosineAnnealingLR(1), 20),
    "CosineAnnealingLR-long": (lambda o: L.CosineAnnealingLR(o, 1000, eta_min=1e-4),
                               S.CosineAnnealingLR(1000, eta_min=1e-4), 1200),
    "LinearLR-default": (lambda o: L.LinearLR(o), S.LinearLR(), 20),
    "LinearLR-warmup": (lambda o: L.LinearLR(o, 0.01, 1.0, 100), S.LinearLR(0.01, 1.0, 100), 150),
    "LinearLR-to-zero": (lambda o: L.LinearLR(o, 1.0, 0.0, 50), S.LinearLR(1.0, 0.0, 50), 80),
    "LinearLR-partial": (lambda o: L.LinearLR(o, 0.5, 0.25, 10), S.LinearLR(0.5, 0.25, 10), 30),
    "WarmRestarts": (lambda o: L.CosineAnnealingWarmRestarts(o, 10),
                     S.CosineAnnealingWarmRestarts(10), 100),
    "WarmRestarts-T_mult=2": (lambda o: L.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=1e-3),
                              S.CosineAnnealingWarmRestarts(3, T_mult=2, eta_min=1e-3), 200),
    "WarmRestarts-T_mult=3": (lambda o: L.CosineAnnealingWarmRestarts(o, 5, T_mult=3),
                              S.CosineAnnealingWarmRestarts(5, T_mult=3), 300),
    "warmup-cosine": (lambda o: seq(o, [lambda o: L.LinearLR(o, 0.1, total_iters=10),
                                        lambda o: L.CosineAnnealingLR(o, 90)], [10]),
                      S.SequentialLR([S.LinearLR(0.1, total_iters=10), S.CosineAnnealingLR(90)],
                                     [10]), 150),
    "warmup-cosine-cut": (lambda o: seq(o, [lambda o: L.LinearLR(o, 0.25, total_iters=8),
                                            lambda o: L.CosineAnnealingLR(o, 50, eta_min=1e-3)],
                                        [5]),
                          S.SequentialLR([S.LinearLR(0.25, total_iters=8),
                                          S.CosineAnnealingLR(50, eta_min=1e-3)], [5]), 120),
    "Sequential-three": (lambda o: seq(o, [lambda o: L.LinearLR(o, 0.2, total_iters=4),
                                           lambda o: L.ExponentialLR(o, 0.9),
                                           lambda o: L.StepLR(o, 5, gamma=0.5)], [6, 20]),
                         S.SequentialLR([S.LinearLR(0.2, total_iters=4), S.ExponentialLR(0.9),
                                         S.StepLR(5, gamma=0.5)], [6, 20]), 60),
    "Sequential-restarts": (lambda o: seq(o, [lambda o: L.ExponentialLR(o, 0.9),
                                              lambda o: L.CosineAnnealingWarmRestarts(o, 4, 2)],
                                          [5]),
                            S.SequentialLR([S.ExponentialLR(0.9),
                                            S.CosineAnnealingWarmRestarts(4, 2)], [5]), 60),
    "Sequential-milestone-0": (lambda o: seq(o, [lambda o: L.ExponentialLR(o, 0.9),
                                                 lambda o: L.LinearLR(o, 0.5, total_iters=4)],
                                             [0]),
                               S.SequentialLR([S.ExponentialLR(0.9),
                                               S.LinearLR(0.5, total_iters=4)], [0]), 20),
    "Sequential-repeated-milestone": (
        lambda o: seq(o, [lambda o: L.ExponentialLR(o, 0.5), lambda o: L.StepLR(o, 2),
                          lambda o: L.CosineAnnealingLR(o, 12)], [5, 5]),
        S.SequentialLR([S.ExponentialLR(0.5), S.StepLR(2), S.CosineAnnealingLR(12)], [5, 5]), 30),
    "OneCycleLR": (lambda o: L.OneCycleLR(o, max_lr=list(LRS), total_steps=100),
                   S.OneCycleLR(total_steps=100), 100),
    "OneCycleLR-three-linear": (
        lambda o: L.OneCycleLR(o, max_lr=list(LRS), epochs=4, steps_per_epoch=25, pct_start=0.25,
                               anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                               three_phase=True, cycle_momentum=False),
        S.OneCycleLR(epochs=4, steps_per_epoch=25, pct_start=0.25, anneal_strategy="linear",
                     div_factor=10.0, final_div_factor=100.0, three_phase=True), 100),
    "OneCycleLR-short-warmup": (lambda o: L.OneCycleLR(o, max_lr=list(LRS), total_steps=30,
                                                       pct_start=0.02, cycle_momentum=False),
                                S.OneCycleLR(total_steps=30, pct_start=0.02), 30),
    "InverseSqrtLR": (lambda o: L.LambdaLR(o, lambda t: 1 / math.sqrt(t + 1)), S.InverseSqrtLR(),
                      200),
    "InverseTimeLR": (lambda o: L.LambdaLR(o, lambda t: 1 / (t + 1)), S.InverseTimeLR(), 200),
}


@pytest.mark.parametrize("case", list(CASES))
def test_schedule_is_torch_scheduler(case):
    make, schedule, steps = CASES[case]
    np.testing.assert_allclose(ours(schedule, steps), torch_lrs(make, steps), rtol=RTOL, atol=0)


def test_one_cycle_with_max_lr_ignores_the_base_lr_as_torch_does():
    schedule = S.OneCycleLR(0.5, total_steps=40)
    theirs = torch_lrs(lambda o: L.OneCycleLR(o, max_lr=0.5, total_steps=40), 40)
    assert isinstance(schedule(np.array([0.1, 0.2]), 3), float)
    for i, lr in enumerate(LRS):
        np.testing.assert_array_equal([schedule(lr, t) for t in range(41)], theirs[:, i])
    # max_lr=None reads the peak off the base lr: the same schedule with max_lr=base
    for t in range(41):
        assert S.OneCycleLR(total_steps=40)(0.5, t) == schedule(123.0, t)


CLOSED_FORMS = {
    "StepLR": (lambda o: L.StepLR(o, 7, gamma=0.5), S.StepLR(7, gamma=0.5)),
    "MultiStepLR": (lambda o: L.MultiStepLR(o, [3, 9, 9], gamma=0.3),
                    S.MultiStepLR([3, 9, 9], gamma=0.3)),
    "ExponentialLR": (lambda o: L.ExponentialLR(o, 0.97), S.ExponentialLR(0.97)),
    "CosineAnnealingLR": (lambda o: L.CosineAnnealingLR(o, 13, eta_min=1e-3),
                          S.CosineAnnealingLR(13, eta_min=1e-3)),
    "LinearLR": (lambda o: L.LinearLR(o, 0.1, 0.8, 17), S.LinearLR(0.1, 0.8, 17)),
}


@pytest.mark.parametrize("case", list(CLOSED_FORMS))
def test_recursive_schedules_are_torchs_closed_form_to_the_bit(case):
    """The docstrings say "torch's closed form, in the same order": torch's own
    ``_get_closed_form_lr`` (what step(epoch) and SequentialLR's milestones use) gives the same
    floats."""
    make, schedule = CLOSED_FORMS[case]
    opt = torch.optim.SGD([{"params": [torch.zeros(1, dtype=torch.float64)], "lr": lr}
                           for lr in LRS])
    scheduler = make(opt)
    if not hasattr(scheduler, "_get_closed_form_lr"):
        pytest.skip("this torch has no _get_closed_form_lr")
    for t in range(60):
        scheduler.last_epoch = t
        assert scheduler._get_closed_form_lr() == [schedule(lr, t) for lr in LRS]


ARRAY_CASES = [CASES[k][1] for k in ("StepLR", "MultiStepLR", "ExponentialLR",
                                     "CosineAnnealingLR-eta_min", "LinearLR-warmup",
                                     "WarmRestarts-T_mult=2", "warmup-cosine", "OneCycleLR",
                                     "InverseSqrtLR", "InverseTimeLR")]


@pytest.mark.parametrize("schedule", ARRAY_CASES, ids=lambda s: type(s).__name__)
def test_array_and_tensor_base_lr_is_the_float_result_elementwise(schedule):
    base = np.array([[0.1], [0.037], [1.0], [3e-4]])  # a sweep axis, as run.trajectory takes it
    for t in range(0, 101, 3):
        floats = np.array([[schedule(float(b), t)] for b in base[:, 0]])
        array = schedule(base, t)
        assert isinstance(array, np.ndarray) and array.shape == base.shape
        np.testing.assert_array_equal(array, floats)
        tensor = schedule(torch.tensor(base), t)
        assert torch.is_tensor(tensor) and tensor.dtype == torch.float64
        np.testing.assert_allclose(tensor.numpy(), floats, rtol=1e-15, atol=0)
    lrs = schedule.lrs(0.1, 50)
    assert lrs.shape == (50,) and lrs.dtype == np.float64
    np.testing.assert_array_equal(lrs, [schedule(0.1, t) for t in range(50)])
    assert schedule.lrs(base[:, 0], 7).shape == (7, 4)


def test_repr_round_trips_and_schedules_are_read_only():
    for make, schedule, _ in CASES.values():
        assert eval(repr(schedule), vars(S)) == schedule
    s = S.CosineAnnealingLR(T_max=110)
    assert repr(s) == "CosineAnnealingLR(T_max=110, eta_min=0.0)"
    assert s != S.CosineAnnealingLR(T_max=111) and len({s, S.CosineAnnealingLR(110, 0)}) == 1
    with pytest.raises(AttributeError, match="read-only"):
        s.T_max = 5
    assert s.T_max == 110
    assert optlab.schedules is S


def test_warm_restart_periods_and_theory_schedules():
    # restarts of T_0=3, T_mult=2 at 3, 3+6=9, 9+12=21: counted a second way, by cumulative sums
    s = S.CosineAnnealingWarmRestarts(3, T_mult=2)
    starts = np.cumsum([0, 3, 6, 12, 24])
    for t in range(45):
        k = np.searchsorted(starts, t, side="right") - 1
        assert s.period(t) == (t - starts[k], 3 * 2 ** k)
    assert S.CosineAnnealingWarmRestarts(4).period(10) == (2, 4)
    # Robbins-Monro: the partial sums of 1/(t+1) grow like log T, those of its square stay
    # below pi^2/6; 1/sqrt(t+1) squared is 1/(t+1) again
    inv = S.InverseTimeLR().lrs(1.0, 100_000)
    assert abs(inv.sum() - (math.log(100_000) + 0.5772156649)) < 1e-4
    assert inv[0] == 1.0 and (inv ** 2).sum() < math.pi ** 2 / 6
    np.testing.assert_allclose(S.InverseSqrtLR().lrs(1.0, 1000) ** 2, inv[:1000], rtol=1e-15)


@pytest.mark.parametrize("call, match", [
    (lambda: S.StepLR(0), r"StepLR: step_size must be an integer >= 1, got 0"),
    (lambda: S.StepLR(2.5), "step_size must be an integer"),
    (lambda: S.StepLR(2, gamma=0.0), r"StepLR: gamma must be a finite number in \(0, inf\]"),
    (lambda: S.MultiStepLR(5), "milestones must be a list"),
    (lambda: S.MultiStepLR([3, -1]), "each milestone must be an integer >= 0, got -1"),
    (lambda: S.MultiStepLR([3], gamma=-0.1), "gamma"),
    (lambda: S.ExponentialLR(float("nan")), "ExponentialLR: gamma must be a finite number"),
    (lambda: S.ExponentialLR(True), "gamma must be a real number"),
    (lambda: S.CosineAnnealingLR(0), "T_max must be an integer >= 1, got 0"),
    (lambda: S.CosineAnnealingLR(10.0), "T_max must be an integer >= 1"),
    (lambda: S.CosineAnnealingLR(10, eta_min=-1e-3), r"eta_min must be a finite number in \[0"),
    (lambda: S.CosineAnnealingLR(10, eta_min=math.inf), "eta_min"),
    (lambda: S.LinearLR(start_factor=0.0), r"start_factor must be a finite number in \(0, 1\]"),
    (lambda: S.LinearLR(start_factor=1.5), "start_factor"),
    (lambda: S.LinearLR(end_factor=1.1), r"end_factor must be a finite number in \[0, 1\]"),
    (lambda: S.LinearLR(end_factor=-0.1), "end_factor"),
    (lambda: S.LinearLR(total_iters=0), "total_iters must be an integer >= 1"),
    (lambda: S.CosineAnnealingWarmRestarts(0), "T_0 must be an integer >= 1"),
    (lambda: S.CosineAnnealingWarmRestarts(5, T_mult=0), "T_mult must be an integer >= 1"),
    (lambda: S.CosineAnnealingWarmRestarts(5, T_mult=1.5), "T_mult"),
    (lambda: S.CosineAnnealingWarmRestarts(5, eta_min=-1.0), "eta_min"),
    (lambda: S.SequentialLR([], []), "at least one"),
    (lambda: S.SequentialLR([S.StepLR(2)], [3]), r"len\(schedulers\) - 1 = 0 entries, got 1"),
    (lambda: S.SequentialLR([S.StepLR(2)] * 3, [5, 3]), "non-decreasing"),
    (lambda: S.SequentialLR([S.StepLR(2)] * 2, [-1]), "milestone must be an integer >= 0"),
    (lambda: S.OneCycleLR(), "give total_steps, or both epochs and steps_per_epoch"),
    (lambda: S.OneCycleLR(total_steps=0), "total_steps must be an integer >= 1"),
    (lambda: S.OneCycleLR(epochs=2, steps_per_epoch=0), "steps_per_epoch must be"),
    (lambda: S.OneCycleLR(-1.0, total_steps=10), r"max_lr must be a finite number in \(0"),
    (lambda: S.OneCycleLR(total_steps=10, pct_start=1.5), r"pct_start .* \[0, 1\]"),
    (lambda: S.OneCycleLR(total_steps=10, anneal_strategy="exp"), "'cos' or 'linear'"),
    (lambda: S.OneCycleLR(total_steps=10, div_factor=0), "div_factor"),
    (lambda: S.OneCycleLR(total_steps=10, pct_start=0.1), "zero length"),
    (lambda: S.OneCycleLR(total_steps=10)(0.1, 11), "t = 11 is past total_steps = 10"),
    (lambda: S.StepLR(2)(0.1, -1), r"t \(the number of scheduler steps taken\) must be"),
    (lambda: S.StepLR(2)(0.1, 1.5), "t .* must be an integer >= 0, got 1.5"),
    (lambda: S.StepLR(2)(0.1, True), "t .* must be an integer"),
    (lambda: S.StepLR(2).lrs(0.1, -1), "steps must be an integer >= 0"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_sequential_refuses_what_it_cannot_chain():
    with pytest.raises(TypeError, match=r"schedulers\[1\] must be an optlab schedule"):
        S.SequentialLR([S.StepLR(2), lambda t: 1.0], [3])
    with pytest.raises(TypeError, match="OneCycleLR is not chainable"):
        S.SequentialLR([S.LinearLR(), S.OneCycleLR(total_steps=10)], [3])
    # an optlab SequentialLR nests (torch's cannot after the first position)
    inner = S.SequentialLR([S.LinearLR(0.5, total_iters=2), S.ExponentialLR(0.5)], [2])
    outer = S.SequentialLR([S.StepLR(1, 0.9), inner], [4])
    assert [outer(1.0, t) for t in range(4, 9)] == [inner(1.0, t) for t in range(5)]
    assert S.StepLR(2)(0.1, np.int64(3)) == S.StepLR(2)(0.1, 3)


# -- the runners -------------------------------------------------------------------------------
QUAD = Quadratic(np.diag([1.0, 10.0]), b=np.array([1.0, -2.0]))
X0 = np.array([3.0, -1.5])
RUN_SCHEDULES = {
    "warmup-cosine": (S.SequentialLR([S.LinearLR(0.1, total_iters=10), S.CosineAnnealingLR(70)],
                                     [10]),
                      lambda o: seq(o, [lambda o: L.LinearLR(o, 0.1, total_iters=10),
                                        lambda o: L.CosineAnnealingLR(o, 70)], [10])),
    "WarmRestarts": (S.CosineAnnealingWarmRestarts(10, T_mult=2, eta_min=1e-3),
                     lambda o: L.CosineAnnealingWarmRestarts(o, 10, T_mult=2, eta_min=1e-3)),
    "StepLR": (S.StepLR(15, gamma=0.5), lambda o: L.StepLR(o, 15, gamma=0.5)),
}


def torch_run(make_opt, make_scheduler, objective, x0, steps):
    """The iterates of the torch loop: exact gradients, opt.step(), then scheduler.step()."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = torch.tensor(np.asarray(x0, dtype=np.float64), requires_grad=True)
        opt = make_opt([x])
        scheduler = make_scheduler(opt)
        xs = [x.detach().numpy().copy()]
        for _ in range(steps):
            x.grad = torch.from_numpy(objective.grad(x.detach().numpy()))
            opt.step()
            scheduler.step()
            xs.append(x.detach().numpy().copy())
    return np.array(xs)


@pytest.mark.parametrize("case", list(RUN_SCHEDULES))
def test_trajectory_with_a_schedule_is_the_torch_run(case):
    schedule, make_scheduler = RUN_SCHEDULES[case]
    steps, lrs = 80, np.array([[0.02], [0.05], [0.08]])
    sweep = trajectory(optlab.SGD(lr=lrs, momentum=0.9), QUAD, X0, steps, lr_schedule=schedule)
    assert not sweep.diverged.any()
    for i, lr in enumerate(lrs[:, 0]):
        theirs = torch_run(lambda ps: torch.optim.SGD(ps, lr=float(lr), momentum=0.9,
                                                      foreach=False),
                           make_scheduler, QUAD, X0, steps)
        np.testing.assert_allclose(sweep.xs[:, i], theirs, rtol=RTOL, atol=1e-15)
        # the torch path: optlab's rule inside torch.optim, driven by torch's own scheduler
        adapter = torch_run(lambda ps: optlab.torch_optimizer(optlab.SGD(lr=float(lr),
                                                                         momentum=0.9), ps),
                            make_scheduler, QUAD, X0, steps)
        np.testing.assert_allclose(adapter, theirs, rtol=RTOL, atol=1e-15)
        single = trajectory(optlab.SGD(lr=float(lr), momentum=0.9), QUAD, X0, steps,
                            lr_schedule=schedule)
        np.testing.assert_array_equal(single.xs, sweep.xs[:, i])
    # the callable form still works, and is the same run when it returns the same lrs
    base = 0.05
    callable_run = trajectory(optlab.SGD(lr=base, momentum=0.9), QUAD, X0, steps,
                              lr_schedule=lambda t: schedule(base, t - 1))
    np.testing.assert_array_equal(callable_run.xs, sweep.xs[:, 1])


def test_trajectory_checks_a_schedule_with_an_end_before_running():
    schedule = S.OneCycleLR(total_steps=50)
    ok = trajectory(optlab.SGD(lr=0.05, momentum=0.9), QUAD, X0, 51, lr_schedule=schedule)
    theirs = torch_run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False),
                       lambda o: L.OneCycleLR(o, max_lr=0.05, total_steps=50,
                                              cycle_momentum=False), QUAD, X0, 50)
    np.testing.assert_allclose(ok.xs[:51], theirs, rtol=RTOL, atol=1e-15)
    with pytest.raises(ValueError, match="t = 52 is past total_steps = 50"):
        trajectory(optlab.SGD(lr=0.05), QUAD, X0, 53, lr_schedule=schedule)


class Scheduled:
    """What tests/test_train.py's `reference` calls an optimizer (zero_grad, step), with torch's
    scheduler stepped after each optimizer step, as torch documents."""

    def __init__(self, opt, make_scheduler):
        self.opt, self.scheduler = opt, make_scheduler(opt)

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        self.opt.step()
        self.scheduler.step()


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_train_batched_with_a_schedule_is_the_torch_run(digits):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, epochs, batch_size = LogisticRegression(64, 10), 2, 128
        total = epochs * math.ceil(len(digits.y_train) / batch_size)  # 22 steps
        schedule = S.SequentialLR([S.LinearLR(0.1, total_iters=5),
                                   S.CosineAnnealingLR(total - 5, eta_min=1e-4)], [5])
        lrs = np.array([0.01, 0.1])
        result = train_batched(optlab.AdamW(lr=lrs, weight_decay=0.1), model, digits, 3,
                               epochs=epochs, batch_size=batch_size, schedule=schedule)
        for i, lr in enumerate(lrs):
            def make(ps, lr=float(lr)):
                return Scheduled(torch.optim.AdamW(ps, lr=lr, weight_decay=0.1, foreach=False),
                                 lambda o: seq(o, [lambda o: L.LinearLR(o, 0.1, total_iters=5),
                                                   lambda o: L.CosineAnnealingLR(
                                                       o, total - 5, eta_min=1e-4)], [5]))
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                ref = reference(model, digits, 3, make, epochs, batch_size)
            assert_row_matches(result, i, ref, model)
        # a shared (float) lr takes the float path of the rule: the same as row 1
        shared = train_batched(optlab.AdamW(lr=0.1, weight_decay=0.1), model, digits, 3,
                               epochs=epochs, batch_size=batch_size, schedule=schedule)
        np.testing.assert_allclose(shared.train_loss[0], result.train_loss[1], rtol=1e-12)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(schedule=S.StepLR(2), lr_factor=lambda s: 1.0), ValueError, "not both"),
    (dict(lr_factor=S.StepLR(2)), TypeError, "pass the schedule StepLR.* as schedule="),
    (dict(schedule=lambda s: 1.0), TypeError, "schedule must be an optlab.schedules schedule"),
    (dict(schedule=S.OneCycleLR(total_steps=5)), ValueError, "t = 10 is past total_steps = 5"),
])
def test_train_batched_schedule_arguments(kwargs, error, match, digits):
    with pytest.raises(error, match=match):  # 11 steps in one epoch of 128
        train_batched(optlab.Adam(), LogisticRegression(64, 10), digits, 0, epochs=1, **kwargs)
