"""Every argument check in optlab, in one place.

Messages start with torch.optim's own text (``Invalid learning rate: -1.0``) so that code and
readers who know PyTorch recognise them, and go on to name the argument and its allowed range.
NaN is rejected everywhere (torch's ``lr < 0`` test lets it through). A hyperparameter may be a
float or an array of floats (a sweep); an array is checked element by element and the first
offending element is quoted, and the optimizer keeps a read-only copy (the caller's array stays
the caller's). The finiteness errors both paths raise are made here too.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_hyperparameter(value, name: str):
    """A float, or a float64 array for a sweep; anything else is a TypeError."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name} must be a float or an array of floats, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a float or an array of floats, got dtype {array.dtype}")
    if array.ndim == 0:
        return float(array)
    array = array.astype(np.float64)  # a copy, even when it is float64 already
    array.flags.writeable = False
    return array


def _first_bad(value, ok):
    """The first element of `value` for which ok(...) is False, or None when all pass."""
    if isinstance(value, float):
        return None if ok(value) else value
    bad = ~ok(value)
    return float(value[bad].flat[0]) if bad.any() else None


def check_range(value, name: str, torch_text: str, low: float, high: float | None = None,
                high_inclusive: bool = False, *, low_inclusive: bool = True,
                why: str | None = None):
    """Accept low ≤ value (≤ or <) high, or low < value with ``low_inclusive=False``; otherwise
    raise ValueError naming the range (and ``why``, the reason for it, when given)."""
    value = as_hyperparameter(value, name)
    above = (lambda v: v >= low) if low_inclusive else (lambda v: v > low)  # noqa: E731
    if high is None:
        ok = above  # (NaN compares False, so it is rejected)
        allowed = f"{name} must be {'>=' if low_inclusive else '>'} {low:g}"
    else:
        below = (lambda v: v <= high) if high_inclusive else (lambda v: v < high)  # noqa: E731
        ok = lambda v: above(v) & below(v)  # noqa: E731
        allowed = (f"{name} must lie in {'[' if low_inclusive else '('}{low:g}, "
                   f"{high:g}{']' if high_inclusive else ')'}")
    if why is not None:
        allowed += f": {why}"
    bad = _first_bad(value, ok)
    if bad is not None:
        raise ValueError(f"{torch_text}: {bad} ({allowed})")
    return value


def positive(value, name: str, torch_text: str | None = None, *, why: str | None = None):
    """Accept value > 0 (an array: every element); the message starts ``Invalid <name> value``
    unless ``torch_text`` gives the reference implementation's own words."""
    return check_range(value, name, torch_text or f"Invalid {name} value", 0.0,
                       low_inclusive=False, why=why)


def lr(value):
    return check_range(value, "lr", "Invalid learning rate", 0.0)


def eps(value):
    return check_range(value, "eps", "Invalid epsilon value", 0.0)


def weight_decay(value):
    return check_range(value, "weight_decay", "Invalid weight_decay value", 0.0)


def momentum(value):
    return check_range(value, "momentum", "Invalid momentum value", 0.0)


def betas(value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {value!r}")
    return tuple(
        check_range(beta, f"betas[{i}]", f"Invalid beta parameter at index {i}", 0.0, 1.0)
        for i, beta in enumerate(value)
    )


def floats_only(hyperparameters) -> None:
    """The torch path takes float hyperparameters, as torch.optim's kernels do."""
    for name, value in hyperparameters.items():
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, np.ndarray) for v in values):
            raise TypeError(
                f"the torch path takes float hyperparameters; {name} is an array (array sweeps run "
                "on the NumPy path)"
            )


def flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def params_not_empty(leaves) -> None:
    if len(leaves) == 0:
        raise ValueError("optimizer got an empty parameter list")


def non_finite_gradient(where: str, count: int) -> FloatingPointError:
    """The error for a gradient with NaN or infinite entries (checked before anything moves)."""
    return FloatingPointError(
        f"the gradient for {where} has {count} NaN or infinite entr{'y' if count == 1 else 'ies'}; "
        "params and state are left as they were"
    )


def non_finite_step(optimizer: str, where: str) -> FloatingPointError:
    """The error for a step that made a parameter or its state NaN or infinite."""
    return FloatingPointError(
        f"the {optimizer} step made {where} or its state non-finite although its gradient was "
        "finite (step too large, or a numerical breakdown); params and state are left as they were"
    )
