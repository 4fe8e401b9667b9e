"""The bookkeeping every optimizer shares, kept apart from the update rules.

An optimizer object holds validated hyperparameters and nothing else. ``init`` makes the state,
``step`` applies the rule: ``params, state = opt.step(params, grads, state)``. Here live the parts
that are the same for every algorithm (walking trees, skipping ``None`` gradients, checking shapes,
dtypes and finiteness, copying so that ``step`` is pure); the rules in ``sgd.py``, ``adagrad.py``,
``rmsprop.py`` and ``adam.py`` contain only the mathematics.
"""

from __future__ import annotations

import copy
from types import MappingProxyType

import numpy as np

from . import _tree, _validate


class Optimizer:
    """Base class. Subclasses set ``rule`` and ``defaults`` and write ``_check`` and ``init_leaf``.

    ``rule(param, grad, state, **hyperparameters)`` updates ``param`` and the arrays in the leaf's
    ``state`` dict in place; ``step`` hands it copies, so callers never see anything change.
    ``hyperparameters`` is read-only (its arrays too): ``replace(...)`` makes an optimizer with
    other values, and checks them.
    """

    rule = None
    defaults: dict = {}

    def __init__(self, **hyperparameters):
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected argument(s) {sorted(unknown)}; "
                f"it takes {sorted(self.defaults)}"
            )
        self._hyperparameters = MappingProxyType(self._check({**self.defaults, **hyperparameters}))

    @property
    def hyperparameters(self):
        """The validated hyperparameters, read-only: writing one would skip its check."""
        return self._hyperparameters

    def __reduce__(self):
        # copy, deepcopy and pickle rebuild the optimizer from its arguments (a read-only mapping
        # cannot be pickled), checking them again
        return _rebuild, (type(self), self._public_hyperparameters())

    # -- what subclasses provide ---------------------------------------------------------------
    @staticmethod
    def _check(h: dict) -> dict:
        """Validate and normalise the hyperparameters (see ``_validate``)."""
        raise NotImplementedError

    def init_leaf(self, param) -> dict:
        """The state of one parameter array before its first step."""
        raise NotImplementedError

    # -- the public contract -------------------------------------------------------------------
    def replace(self, **changes) -> "Optimizer":
        """A new optimizer of the same kind with some hyperparameters changed (e.g. a schedule)."""
        return type(self)(**{**self._public_hyperparameters(), **changes})

    def _public_hyperparameters(self) -> dict:
        return {k: v for k, v in self.hyperparameters.items() if k in self.defaults}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._public_hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def init(self, params):
        """State for `params` (an array or a list, tuple or dict of arrays): plain data."""
        named = _tree.leaves(params)
        _require_params(named)
        return _tree.rebuild(params, [self.init_leaf(_float_array(p, path)) for path, p in named])

    def step(self, params, grads, state, *, check_finite: bool = True):
        """One update. Returns ``(new_params, new_state)`` and modifies none of its inputs.

        A ``None`` gradient leaves its parameter and that parameter's state (step count included)
        as they were. Errors are raised before anything is computed, so nothing half-updates.
        With ``check_finite`` a NaN or infinite gradient, or a step that makes a parameter or its
        state NaN or infinite (an overflow, or a breakdown such as a negative variance), raises
        FloatingPointError naming the parameter. The torch path's ``check_finite`` means the
        same. (The runner turns it off and tracks divergence per row itself.)
        """
        named = _tree.leaves(params)
        _require_params(named)
        grad_leaves = _tree.leaves_like(params, grads, "grads")
        state_leaves = _tree.leaves_like(params, state, "state")
        expected_keys = None

        checked = []
        for (path, param), grad, leaf_state in zip(named, grad_leaves, state_leaves):
            param = _float_array(param, path)
            if grad is not None:
                grad = _gradient(grad, param, path, check_finite)
                self._check_broadcast(param, path)
            if not isinstance(leaf_state, dict):
                raise ValueError(f"state for {path} is not a dict: was it made by init()?")
            if expected_keys is None:
                expected_keys = self._state_keys()
            missing = expected_keys - set(leaf_state)
            if missing:
                raise ValueError(
                    f"state for {path} lacks {sorted(missing)}: it was made by another "
                    f"optimizer or options ({self!r} needs {sorted(expected_keys)})"
                )
            checked.append((path, param, grad, leaf_state))

        new_params, new_state = [], []
        for path, param, grad, leaf_state in checked:
            if grad is None:
                new_params.append(param)
                new_state.append(leaf_state)
                continue
            param = param.copy()
            leaf_state = copy.deepcopy(leaf_state)
            with np.errstate(all="ignore"):  # overflow is reported below, by name
                type(self).rule(param, grad, leaf_state, **self.hyperparameters)
            if check_finite and not all(np.isfinite(a).all() for a in (param, *_arrays(leaf_state))):
                raise _validate.non_finite_step(type(self).__name__, path)
            new_params.append(param)
            new_state.append(leaf_state)
        return _tree.rebuild(params, new_params), _tree.rebuild(params, new_state)

    def _state_keys(self) -> set:
        """The keys of a fresh state, from init_leaf on the smallest array that every array
        hyperparameter broadcasts against (a sweep's initial values may be arrays too)."""
        shape = np.broadcast_shapes(*(v.shape for _, v in self._array_hyperparameters()))
        return set(self.init_leaf(np.zeros(shape)))

    def _array_hyperparameters(self):
        """(name, array) for every hyperparameter that is an array (a sweep), betas' entries too."""
        for name, value in self.hyperparameters.items():
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, np.ndarray):
                    yield name, v

    def _check_broadcast(self, param, path):
        for name, v in self._array_hyperparameters():
            if np.broadcast_shapes(v.shape, param.shape) != param.shape:
                raise ValueError(
                    f"hyperparameter {name} has shape {v.shape}, which does not broadcast "
                    f"against {path} of shape {param.shape}: a sweep needs a batch of "
                    "parameters, one row per setting (broadcast the start point first)"
                )


def _rebuild(cls, hyperparameters):
    return cls(**hyperparameters)


def _arrays(leaf_state):
    return [v for v in leaf_state.values() if isinstance(v, (np.ndarray, float))]


def _require_params(named):
    if len(named) == 0:
        raise ValueError("optimizer got an empty parameter list")


def _float_array(param, path):
    array = np.asarray(param)
    if array.dtype.kind != "f":
        raise TypeError(
            f"{path} has dtype {array.dtype}; optimizers need floating-point parameters "
            "(e.g. np.asarray(x, dtype=float))"
        )
    return array


def _gradient(grad, param, path, check_finite):
    grad = np.asarray(grad)
    if grad.dtype.kind != "f":
        raise TypeError(f"the gradient for {path} has dtype {grad.dtype}; it must be floating-point")
    if grad.shape != param.shape:
        raise ValueError(
            f"the gradient for {path} has shape {grad.shape} but the parameter has shape "
            f"{param.shape}"
        )
    if check_finite and not np.isfinite(grad).all():
        raise _validate.non_finite_gradient(path, int((~np.isfinite(grad)).sum()))
    return grad
