"""The bookkeeping every optimizer shares, kept apart from the update rules.

An optimizer object holds validated hyperparameters and nothing else. ``init`` makes the state,
``step`` applies the rule: ``params, state = opt.step(params, grads, state)``, a pure function
for readers; ``opt.step_(params, grads, state)`` applies it in place, without copies, for loops
that take many steps (``optlab.run`` uses it). Here live the parts that are the same for every
algorithm (walking trees, skipping ``None`` gradients, checking shapes, dtypes and finiteness,
copying so that ``step`` is pure, undoing a failed ``step_``); the rules in ``sgd.py``,
``adagrad.py``, ``rmsprop.py`` and ``adam.py`` contain only the mathematics.
"""

from __future__ import annotations

import copy
from types import MappingProxyType

import numpy as np

from . import _tree, _validate


class Optimizer:
    """Base class. Subclasses set ``rule`` and ``defaults`` and write ``_check`` and ``init_leaf``.

    ``rule(param, grad, state, **hyperparameters)`` updates ``param`` and the arrays in the leaf's
    ``state`` dict in place; ``step`` hands it copies, so callers never see anything change, and
    ``step_`` hands it the caller's own arrays.
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
        same. This is :meth:`step_` run on copies: the same rule on the same numbers.
        """
        new_params, new_state = [], []
        for path, param, grad, leaf_state in self._checked(params, grads, state, check_finite):
            if grad is not None:
                param, leaf_state = param.copy(), copy.deepcopy(leaf_state)
                self._apply(param, grad, leaf_state)
                if check_finite and not _finite(param, leaf_state):
                    raise _validate.non_finite_step(type(self).__name__, path)
            new_params.append(param)
            new_state.append(leaf_state)
        return _tree.rebuild(params, new_params), _tree.rebuild(params, new_state)

    def step_(self, params, grads, state, *, check_finite: bool = True):
        """One update in place: the arrays in `params` and the dicts in `state` are updated, no
        copies are made. Returns ``(params, state)``, the same objects, so that
        ``params, state = opt.step_(params, grads, state)`` reads as ``step`` does.

        The numbers are :meth:`step`'s to the last bit (the same rule on the same values). The
        checks are ``step``'s, plus what updating in place needs: every parameter must be a
        writable NumPy array (a Python float or a read-only view cannot change in place) and no
        two may share memory; every array in a parameter's state must be a writable float array
        of the parameter's shape. All of them run before anything changes, so bad input leaves
        params and state as they were. A gradient that shares memory with its parameter is
        copied first. With ``check_finite`` a step whose result is NaN or infinite raises
        FloatingPointError and puts params and state back: for that ``step_`` keeps a copy of
        each updated parameter and its state arrays until the check passes (as the torch path
        does). ``check_finite=False`` (what ``optlab.run`` uses) makes no copy at all.
        """
        work = self._checked(params, grads, state, check_finite, in_place=True)
        saved = []
        try:
            for path, param, grad, leaf_state in work:
                if grad is None:
                    continue
                if check_finite:
                    saved.append((param, param.copy(), _snapshot(leaf_state), leaf_state))
                self._apply(param, grad, leaf_state)
                if check_finite and not _finite(param, leaf_state):
                    raise _validate.non_finite_step(type(self).__name__, path)
        except BaseException:
            for param, old, snapshot, leaf_state in reversed(saved):
                param[...] = old
                _restore(leaf_state, snapshot)
            raise
        return params, state

    def _apply(self, param, grad, leaf_state):
        """The rule, in place, overflow left for the finiteness check to report by name."""
        with np.errstate(all="ignore"):
            type(self).rule(param, grad, leaf_state, **self.hyperparameters)

    def _checked(self, params, grads, state, check_finite, in_place=False):
        """[(path, param array, gradient or None, leaf state)], every argument checked; nothing
        is computed or changed here, so an error leaves everything as it was."""
        named = _tree.leaves(params)
        _require_params(named)
        grad_leaves = _tree.leaves_like(params, grads, "grads")
        state_leaves = _tree.leaves_like(params, state, "state")
        expected_keys = self._state_keys()

        checked = []
        for (path, param), grad, leaf_state in zip(named, grad_leaves, state_leaves):
            if in_place:
                _writable_array(param, path)
            param = _float_array(param, path)
            if grad is not None:
                grad = _gradient(grad, param, path, check_finite)
                self._check_broadcast(param, path)
                if in_place and np.may_share_memory(grad, param):
                    grad = grad.copy()  # the rule reads g after it has begun to move the param
            if not isinstance(leaf_state, dict):
                raise ValueError(f"state for {path} is not a dict: was it made by init()?")
            missing = expected_keys - set(leaf_state)
            if missing:
                raise ValueError(
                    f"state for {path} lacks {sorted(missing)}: it was made by another "
                    f"optimizer or options ({self!r} needs {sorted(expected_keys)})"
                )
            if in_place and grad is not None:
                self._check_state_arrays(leaf_state, param, path)
            checked.append((path, param, grad, leaf_state))
        if in_place and len(checked) > 1:
            _no_shared_memory([(path, param) for path, param, _, _ in checked])
        return checked

    def _state_keys(self) -> set:
        """The keys of a fresh state, from init_leaf on the smallest array that every array
        hyperparameter broadcasts against (a sweep's initial values may be arrays too)."""
        return self._fresh_state()[0]

    def _fresh_state(self):
        """(keys of a fresh state, keys whose value is an array the rule updates in place, or
        None that becomes one): made once per optimizer (its hyperparameters never change)."""
        cached = self.__dict__.get("_fresh")
        if cached is None:
            shape = np.broadcast_shapes(*(v.shape for _, v in self._array_hyperparameters()))
            fresh = self.init_leaf(np.zeros(shape))
            arrays = {k for k, v in fresh.items() if v is None or isinstance(v, np.ndarray)}
            cached = self.__dict__["_fresh"] = (set(fresh), frozenset(arrays))
        return cached

    def _check_state_arrays(self, leaf_state, param, path):
        for key in self._fresh_state()[1]:
            value = leaf_state[key]
            if value is None:
                continue
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f" \
                    or value.shape != param.shape:
                raise ValueError(
                    f"state for {path} has {key} of {_describe(value)}, but step_ updates it in "
                    f"place and needs a float array of the parameter's shape {param.shape} (was "
                    "the state made by init() for these params?)"
                )
            if not value.flags.writeable:
                raise ValueError(f"state for {path} has a read-only {key}; step_ updates it in "
                                 "place (pass a state made by init(), or use step)")
            if np.may_share_memory(value, param):
                raise ValueError(f"state for {path} has {key} sharing memory with the parameter")

    def _array_hyperparameters(self):
        """(name, array) for every hyperparameter that is an array (a sweep), betas' entries too."""
        for name, value in self.hyperparameters.items():
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, np.ndarray):
                    yield name, v

    def _check_broadcast(self, param, path):
        checked = self.__dict__.setdefault("_broadcast_ok", set())  # shapes already checked
        if param.shape in checked:
            return
        for name, v in self._array_hyperparameters():
            if np.broadcast_shapes(v.shape, param.shape) != param.shape:
                raise ValueError(
                    f"hyperparameter {name} has shape {v.shape}, which does not broadcast "
                    f"against {path} of shape {param.shape}: a sweep needs a batch of "
                    "parameters, one row per setting (broadcast the start point first)"
                )
        checked.add(param.shape)


def _rebuild(cls, hyperparameters):
    return cls(**hyperparameters)


def _arrays(leaf_state):
    return [v for v in leaf_state.values() if isinstance(v, (np.ndarray, float))]


def _finite(param, leaf_state) -> bool:
    return all(np.isfinite(a).all() for a in (param, *_arrays(leaf_state)))


def _snapshot(leaf_state):
    """What `_restore` needs to put `leaf_state` back: each entry, and a copy of each array."""
    return [(k, v, v.copy() if isinstance(v, np.ndarray) else None) for k, v in leaf_state.items()]


def _restore(leaf_state, snapshot):
    """`leaf_state` as it was when `snapshot` was taken: the same array objects, their old
    values (a caller holding one of them sees it unchanged), entries added since removed."""
    leaf_state.clear()
    for key, value, old in snapshot:
        if old is not None:
            value[...] = old
        leaf_state[key] = value


def _writable_array(param, path):
    if not isinstance(param, np.ndarray):
        raise TypeError(f"{path} is a {type(param).__name__}; step_ updates params in place and "
                        "needs NumPy arrays (np.array(...)), or use step")
    if not param.flags.writeable:
        raise ValueError(f"{path} is read-only; step_ updates params in place (pass a writable "
                         "copy, np.array(x), or use step)")


_TOO_HARD = getattr(np, "exceptions", np).TooHardError  # numpy < 1.25: np.TooHardError


def _no_shared_memory(named):
    """ValueError when two parameters share memory (step_ would update the shared part twice).

    Only arrays whose byte ranges overlap are compared element by element, so the usual case
    (separate arrays) costs a sort; two interleaved views of one buffer (its columns) pass."""
    spans = sorted((*_byte_bounds(p), i) for i, (_, p) in enumerate(named) if p.size)
    active = []  # (end, index) of the spans that reach past the current start
    for start, end, i in spans:
        active = [(e, j) for e, j in active if e > start]
        for _, j in active:
            try:
                shared = np.shares_memory(named[i][1], named[j][1], max_work=10_000)
            except _TOO_HARD:
                shared = True
            if shared:
                first, second = sorted((i, j))
                raise ValueError(f"{named[first][0]} and {named[second][0]} share memory; step_ "
                                 "would update them twice (pass separate arrays, or use step)")
        active.append((end, i))


def _byte_bounds(a):
    """(first byte, one past the last byte) of array `a`'s elements (np.byte_bounds, which
    NumPy 2 moved)."""
    low = high = a.__array_interface__["data"][0]
    for n, stride in zip(a.shape, a.strides):
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    return low, high + a.itemsize


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"dtype {value.dtype} and shape {value.shape}"
    return f"type {type(value).__name__}"


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
