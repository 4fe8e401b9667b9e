"""Every numeric hyperparameter of every optimizer takes an array: a sweep of three settings, one
row each, steps exactly (bit for bit) as the three single runs it stands for.

The hyperparameters are read from each optimizer's checked ``hyperparameters``, so one added
later joins this test at once and fails it until ``VALUES`` names three settings for it. The runs
start from every option row of ``optimizer_cases`` (momentum, nesterov, centered, amsgrad,
decoupled decay, maximize, rescale, ...), so each sweep also crosses the branches those options
switch on.
"""

import numbers

import numpy as np
import pytest

from optimizer_cases import CASES, assert_sweep_rows_equal_single_runs, case_id, make

STEPS = 50

# three settings per hyperparameter, a 0 among them where 0 switches a term off (a sweep row
# then runs the term with 0 while its single run skips it: they must still agree to the bit)
VALUES = {
    "lr": [0.0, 0.01, 0.1],
    "momentum": [0.0, 0.5, 0.9],
    "dampening": [0.0, 0.3, 1.0],
    "weight_decay": [0.0, 0.05, 0.5],
    "eps": [1e-8, 1e-3, 0.1],
    "alpha": [0.5, 0.9, 0.99],  # (centered, alpha 0 makes v − ḡ² = 0 and the run diverges)
    "lr_decay": [0.0, 0.01, 0.5],
    "initial_accumulator_value": [0.0, 0.1, 1.0],
    "momentum_decay": [0.0, 4e-3, 0.1],
    "betas[0]": [0.0, 0.5, 0.9],
    "betas[1]": [0.0, 0.6, 0.999],  # 0.6: RAdam's ρ∞ = 4, a zero factor in r_t's denominator
    "final_lr": [0.0, 0.01, 0.1],  # AdaBound
    "gamma": [1e-3, 0.1, 0.9],  # AdaBound (gamma 0 is refused: the upper bound divides by γt)
    "base_lr": [1e-3, 0.01, 0.1],  # AdaBound (> 0: the bounds scale by lr / base_lr)
    "beta3": [0.0, 0.9, 0.999],  # AdaMod
    "clip": [0.1, 1.0, 1e9],  # FAdam (1e9: the clip never binds)
    "p": [0.25, 0.5, 1.0],  # FAdam
}


def numeric_hyperparameters(name, kwargs):
    """The names of `name`'s numeric hyperparameters (each entry of a tuple on its own), as the
    optimizer holds them after its checks: a default of None that stands for a number (AdaBound's
    base_lr, lr unless given) counts."""
    out = []
    for key, default in make(name, **kwargs).hyperparameters.items():
        if isinstance(default, tuple):
            out += [f"{key}[{i}]" for i in range(len(default))]
        elif isinstance(default, numbers.Real) and not isinstance(default, bool):
            out.append(key)
    return out


def values_for(name, hyperparameter, kwargs):
    if hyperparameter == "momentum" and kwargs.get("nesterov"):
        return [0.3, 0.6, 0.9]  # nesterov needs momentum > 0 in every row (torch: in every run)
    if name == "AdaBound" and hyperparameter == "lr":
        return [1e-3, 0.01, 0.1]  # base_lr defaults to lr and must be > 0
    return VALUES[hyperparameter]


def with_value(kwargs, name, hyperparameter, value):
    """kwargs with `hyperparameter` (a name, or name[i] for a tuple entry) set to `value`."""
    if "[" not in hyperparameter:
        return {**kwargs, hyperparameter: value}
    key, index = hyperparameter[:-1].split("[")
    entries = list(kwargs.get(key, make(name).defaults[key]))
    entries[int(index)] = value
    return {**kwargs, key: tuple(entries)}


SWEEPS = [
    (name, kwargs, hyperparameter)
    for name, kwargs in CASES
    for hyperparameter in numeric_hyperparameters(name, kwargs)
    # nesterov needs dampening 0, so a dampening sweep under it has one valid row only
    if not (hyperparameter == "dampening" and kwargs.get("nesterov"))
]


def test_every_numeric_hyperparameter_has_settings_and_is_swept():
    every = {h for name, kwargs in CASES for h in numeric_hyperparameters(name, kwargs)}
    assert every <= set(VALUES), f"give VALUES three settings for {sorted(every - set(VALUES))}"
    assert every == {h for _, _, h in SWEEPS}
    assert len(SWEEPS) > 150


def gradient(x):
    return np.sin(3 * x) + 0.5 * x


@pytest.mark.parametrize("name,kwargs,hyperparameter", SWEEPS,
                         ids=[f"{case_id((n, k))}:{h}" for n, k, h in SWEEPS])
def test_sweep_rows_equal_single_runs_bit_for_bit(name, kwargs, hyperparameter):
    values = values_for(name, hyperparameter, kwargs)
    column = np.array(values)[:, None]  # one row per setting, broadcast against a (3, 4) batch
    assert_sweep_rows_equal_single_runs(
        make(name, **with_value(kwargs, name, hyperparameter, column)),
        [make(name, **with_value(kwargs, name, hyperparameter, value)) for value in values],
        np.linspace(-1.0, 2.0, 4), gradient, STEPS)
