"""optlab's rules as a ``torch.optim.Optimizer``, for ordinary PyTorch training loops.

The same rule functions that the NumPy path calls run here in place on each parameter's tensor,
on the CPU or on CUDA. Hyperparameters live in ``param_groups`` under torch's names, so torch's
learning-rate schedulers drive them, and ``state_dict`` / ``load_state_dict`` come from
``torch.optim.Optimizer``. Checkpoints travel both ways: a torch.optim checkpoint of the same
algorithm loads here and continues as torch.optim would, and this optimizer's checkpoint loads
into torch.optim. This module imports torch, as do optlab.train, .models and .datasets;
`import optlab` does not.

The bookkeeping that keeps the rules the same arithmetic on both paths lives here:

- Step counts are Python ints and NAdam's μ product a Python float. torch.optim keeps them in
  0-d tensors of its default dtype (float32 unless changed) and reads them back as Python
  numbers, so the bias corrections are float64 on both sides; a torch checkpoint's tensors become
  numbers when it loads, and torch.optim turns ours back into tensors when it loads ours.
- torch.optim.SGD keeps no step count: SGD state loaded from it counts its steps from the load.
- A complex parameter is stepped as the real pairs ``torch.view_as_real`` gives, with its state
  kept complex, as torch.optim does (so Adam's second moment is |g|² per real part, not g²).

Three implementations run the same rule (``impl=``, see :func:`torch_optimizer`):

- ``"single"``: the rule once per parameter, on its tensors (torch.optim's ``foreach=False``).
- ``"foreach"``: the rule once per group of parameters that share a device, dtypes and scalar
  state (step count, NAdam's μ product), on ``optlab._foreach.TensorList`` s of their flattened
  tensors, whose operations are ``torch._foreach_*`` kernels (torch.optim's ``foreach=True``).
- ``"fused"``: the rule compiled with ``torch.compile`` (inductor: one C++/OpenMP loop per
  parameter on the CPU, one Triton kernel on CUDA) over parameters' flattened tensors, sizes
  dynamic, so one compiled kernel serves parameters of every size. It is compiled once per
  (rule, options, dtypes, device) and cached for the process; the learning rate and the step
  count (and NAdam's μ product) enter as float64 tensors, so a scheduler that changes lr does not
  recompile, and the scalars made from them (β^t, ...) are computed once per call, not once per
  element (see ``_ops.HOISTED``). Every other hyperparameter is part of the key: a scheduler
  that changes betas or momentum would compile anew for each value, so after
  ``FUSED_OPTIONS_LIMIT`` option sets for one rule a group falls back to foreach (with a
  warning). The kernel takes ``FUSED_CHUNK`` (4) parameters a call, the rule traced once per
  parameter (so a reduction stays per parameter): a call of a compiled function costs tens of
  µs, more than a small tensor's update. Parameters of ``FUSED_PARALLEL_MIN`` (32768) elements or
  more go to a kernel whose loops run on all threads, smaller ones to a one-thread kernel (a
  second compile when a group has both), as torch's own kernels choose.

A step whose state holds ``None`` (SGD's momentum buffer before its first step) runs the foreach
rule, so the compiled kernel has one form; a parameter, or a state tensor, that is not contiguous
(a flat view would copy it) runs the single-tensor rule.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import defaultdict

import torch

from . import _ops, _validate
from ._foreach import TensorList
from .base import Optimizer as _OptlabOptimizer
from .sgd import sgd_update

IMPLS = ("single", "foreach", "fused")
# how many option sets (hyperparameters other than lr) one rule may compile before a group falls
# back to foreach: a scheduler that moves betas or momentum would otherwise compile every step
FUSED_OPTIONS_LIMIT = 8
# impl="fused" calls its compiled kernel on FUSED_CHUNK parameters at a time (the last call of a
# step padded with small dummies): one call of a compiled function costs tens of µs of Python
# (wrappers, guards), more than the whole update of a small tensor. The compile time grows with
# it (the rule is traced once per parameter of the chunk): 4 compiles in about twice the time
# of 1 and makes 200 parameters 50 calls
FUSED_CHUNK = 4
# parameters of this many elements or more go to a kernel whose loops run on all threads
# (OpenMP), smaller ones to one that runs on one: a parallel region costs more than it saves
# on a small tensor (32768 is torch's own grain size for that choice)
FUSED_PARALLEL_MIN = 1 << 15

# state entries that optlab's rule keeps and torch.optim does not; started afresh on loading
_NOT_IN_TORCH_CHECKPOINTS = {sgd_update: ("step",)}


class OptlabTorchOptimizer(torch.optim.Optimizer):
    """A torch optimizer whose step is an optlab rule. Make one with :func:`torch_optimizer`."""

    def __init__(self, opt: _OptlabOptimizer, params, *, check_finite: bool = True,
                 impl: str | None = None):
        if not isinstance(opt, _OptlabOptimizer):
            raise TypeError(f"opt must be an optlab optimizer such as optlab.Adam(), got {opt!r}")
        if impl is not None and impl not in IMPLS:
            raise ValueError(f"Invalid impl: {impl!r} (impl must be one of "
                             f"{', '.join(map(repr, IMPLS))}, or None for the default)")
        _validate.floats_only(opt.hyperparameters)
        self.optlab = opt
        self.check_finite = check_finite
        self.impl = impl
        super().__init__(params, dict(opt.hyperparameters))

    # -- groups and checkpoints: checked before they are taken ---------------------------------
    def add_param_group(self, param_group):
        """torch.optim's, once the group's options pass the checks the optimizer's own arguments
        pass: a group with a bad option raises and is not added."""
        if isinstance(param_group, dict):  # anything else: torch's own TypeError
            _group_optimizer(self.optlab, {**self.defaults, **param_group})
        super().add_param_group(param_group)

    def __getstate__(self):
        # torch.optim.Optimizer keeps only defaults, state and groups: copies need the rule too
        state = {**super().__getstate__(), "optlab": self.optlab,
                 "check_finite": self.check_finite, "impl": self.impl}
        state.pop("_aliases", None)  # (torch's __getstate__ keeps only its own entries anyway)
        return state

    def __setstate__(self, state):
        """torch.optim's (``load_state_dict`` and unpickling end here), once every group's
        options and every parameter's state fit optlab's rule: a checkpoint that does not fit
        raises and changes nothing. torch's 0-d step and μ-product tensors become numbers."""
        opt = state.get("optlab") or self.optlab
        loaded, converted, index = state["state"], defaultdict(dict), 0
        for group in state["param_groups"]:
            for name, value in opt.hyperparameters.items():
                group.setdefault(name, value)  # as torch.optim's __setstate__ fills in defaults
            group_opt = _group_optimizer(opt, group)
            for p in group["params"]:
                if loaded.get(p):
                    converted[p] = _from_checkpoint(loaded[p], group_opt, p, index)
                index += 1
        for key, value in loaded.items():  # entries for no parameter: kept, as torch keeps them
            if key not in converted:
                converted[key] = value
        super().__setstate__({**state, "state": converted})
        self.__dict__.pop("_aliases", None)  # the fused path's flat aliases of the old state

    # -- the step --------------------------------------------------------------------------------
    def _hyperparameters(self, group):
        values = {name: group[name] for name in self.optlab.hyperparameters}
        values["lr"] = float(values["lr"])  # a scheduler may store a tensor or numpy float
        return values

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = self._work()
        if not self.check_finite:
            self._run(work)
            return loss
        saved = [(p, p.detach().clone(), _copy(self.state.get(p))) for p, _, _ in work]
        try:
            self._run(work)
            error = self._non_finite([p for p, _, _ in work])
        except BaseException:
            self._restore(saved)
            raise
        if error is not None:
            self._restore(saved)
            raise error
        return loss

    def _work(self):
        """(parameter, group, hyperparameters) for each parameter that has a gradient."""
        work = []
        for group in self.param_groups:
            hyperparameters = self._hyperparameters(group)
            for p in group["params"]:
                if p.grad is not None:
                    if p.grad.is_sparse:
                        raise RuntimeError("optlab's torch path does not take sparse gradients")
                    work.append((p, group, hyperparameters))
        return work

    def _run(self, work):
        """Step every (parameter, group, hyperparameters) of `work`, group by group, with the
        group's implementation."""
        by_group = defaultdict(list)
        for p, group, hyperparameters in work:
            by_group[id(group)].append((p, group, hyperparameters))
        for items in by_group.values():
            params = [p for p, _, _ in items]
            group, hyperparameters = items[0][1], items[0][2]
            impl = self._impl(params)
            if impl == "single":
                for p in params:
                    self._update(p, group, hyperparameters)
            else:
                self._update_together(params, group, hyperparameters, fused=impl == "fused")

    def _impl(self, params) -> str:
        """The implementation a group runs: ``impl``, or torch.optim's default (foreach when every
        parameter is on a device with foreach kernels, CUDA among them; else single)."""
        impl = getattr(self, "impl", None)  # (an optimizer unpickled from before impl existed)
        if impl is not None:
            return impl
        supported = _foreach_devices()
        return "foreach" if all(p.device.type in supported for p in params) else "single"

    def _init_state(self, p, group):
        state = self.state[p]
        if not state:
            # a group may override options that shape the state (amsgrad, centered, ...)
            fresh = _group_optimizer(self.optlab, group).init_leaf(_real(p.detach()))
            state.update(_like(p, fresh))
        return state

    def _update_together(self, params, group, hyperparameters, fused):
        """The foreach or fused step of one group's `params` (see the module docstring)."""
        batches = defaultdict(list)
        for p in params:
            self._init_state(p, group)
            key = _batch_key(p, self.state[p])
            if key is None:
                self._update(p, group, hyperparameters)  # not contiguous: the single rule
            else:
                batches[key].append(p)
        rule = type(self.optlab).rule
        for key, batch in batches.items():
            if fused and not any(v is None for v in self.state[batch[0]].values()):
                rest = [p for p in batch if _real(p.detach()).numel() < 2]  # (sizes 0 and 1 would
                for parallel in (False, True):                             # compile apart)
                    part = [p for p in batch if _real(p.detach()).numel() >= 2
                            and (p.numel() >= FUSED_PARALLEL_MIN) == parallel]
                    kernel = part and _fused_kernel(rule, hyperparameters, key, parallel)
                    if kernel:
                        self._fused(kernel, part, hyperparameters, key)
                    else:
                        rest += part
                if not rest:
                    continue
                batch = rest
            self._foreach(batch, hyperparameters)

    def _foreach(self, params, hyperparameters):
        """The rule once on TensorLists of `params`' flattened tensors (one batch: one device,
        dtypes and scalar state)."""
        first = self.state[params[0]]
        passed, leaf = {}, {}
        for key, value in first.items():
            if torch.is_tensor(value):
                passed[key] = [_flat(self.state[p][key]) for p in params]
                leaf[key] = TensorList(passed[key])
            else:
                leaf[key] = value  # a step count, μ product or None: one value for the batch
        grads = TensorList([_flat_grad(p) for p in params])
        type(self.optlab).rule(TensorList([_flat(p.detach()) for p in params]), grads, leaf,
                               **hyperparameters)
        for key, value in leaf.items():
            for i, p in enumerate(params):
                if isinstance(value, TensorList):
                    if key not in passed or value.tensors[i] is not passed[key][i]:
                        self.state[p][key] = _unflat(value.tensors[i], p)  # made by the rule
                else:
                    self.state[p][key] = value

    def _fused(self, kernel, params, hyperparameters, key):
        """The compiled rule on `params` (one batch), FUSED_CHUNK at a time; lr and the scalar
        state enter as float64 tensors and the new scalar state is read back once."""
        first, device = self.state[params[0]], params[0].device
        tensor_keys = [k for k, v in first.items() if torch.is_tensor(v)]
        scalar_keys = [k for k, v in first.items() if not torch.is_tensor(v)]
        # shape (1,), made 0-d inside the kernel: torch.compile would turn a 0-d CPU input into a
        # Python number and trace the rule twice
        lr, *scalars = torch.tensor([float(hyperparameters["lr"])] + [float(first[k])
                                                                      for k in scalar_keys],
                                    dtype=torch.float64, device=device).split(1)
        new_scalars = None
        with _SPECIALIZE_FLOATS():
            for start in range(0, len(params), FUSED_CHUNK):
                chunk = params[start:start + FUSED_CHUNK]
                padding = _dummies(key, len(tensor_keys), FUSED_CHUNK - len(chunk))
                cache = self.__dict__.setdefault("_aliases", {})
                new_scalars, _ = kernel(
                    [_alias(p, cache) for p in chunk] + padding[0],
                    [_alias_grad(p) for p in chunk] + padding[1],
                    [[_alias(self.state[p][k], cache) for k in tensor_keys] for p in chunk]
                    + padding[2],
                    scalars, lr)
        values = torch.stack(list(new_scalars)).tolist() if scalar_keys else []
        for name, value in zip(scalar_keys, values):
            value = type(first[name])(value)  # step counts stay ints, as on the other paths
            for p in params:
                self.state[p][name] = value

    def _update(self, p, group, hyperparameters):
        state, rule = self._init_state(p, group), type(self.optlab).rule
        if p.is_complex():
            leaf = {key: _real(value) for key, value in state.items()}
            rule(torch.view_as_real(p), torch.view_as_real(p.grad), leaf, **hyperparameters)
            state.update(_like(p, leaf))
        else:
            rule(p, p.grad, state, **hyperparameters)

    def _non_finite(self, params):
        """The error for the first gradient, or else the first new parameter or state, that holds
        NaN or inf; None when all are finite.

        A tensor's minimum or maximum is NaN or inf exactly when one of its entries is; neither
        can overflow (a sum can) or needs a wider dtype (float64 is absent on MPS). They are
        stacked per device, so a step reads one boolean back per device.
        """
        checks = [(True, p, _extremes(p.grad)) for p in params]  # (is the gradient, p, extremes)
        for p in params:
            state = self.state[p].values()
            checks += [(False, p, _extremes(t)) for t in (p, *state) if torch.is_tensor(t)]
            checks += [(False, p, p.new_full((2,), math.nan)) for v in state
                       if isinstance(v, float) and not math.isfinite(v)]  # NAdam's μ product
        finite = _all_finite([extremes for _, _, extremes in checks])
        if finite is None:
            return None
        gradient, p, _ = next(check for check, ok in zip(checks, finite) if not ok)
        index = next(i for i, q in enumerate(q for g in self.param_groups for q in g["params"])
                     if q is p)
        where = f"parameter {index} (shape {tuple(p.shape)})"
        if gradient:
            return _validate.non_finite_gradient(where, int((~torch.isfinite(p.grad)).sum()))
        return _validate.non_finite_step(type(self.optlab).__name__, where)

    def _restore(self, saved):
        for p, value, state in saved:
            p.copy_(value)
            if state is None:
                self.state.pop(p, None)
            else:
                self.state[p].clear()
                self.state[p].update(state)


# -- foreach and fused: batches of flattened tensors ---------------------------------------------
def _foreach_devices():
    try:
        from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices
        return _get_foreach_kernels_supported_devices()
    except ImportError:  # a torch without the helper: CUDA, as torch.optim's default says
        return ["cuda"]


def _flat(t):
    """`t` (complex: its real pairs) as a 1-D view; the caller checked that it is contiguous."""
    return _real(t).view(-1)


def _flat_grad(p):
    """p's gradient as a 1-D tensor: a view, or a copy of a non-contiguous gradient (it is read,
    never written)."""
    return _real(p.grad).reshape(-1)


def _alias(t, cache=None):
    """`t` (complex: its real pairs) as a 1-D tensor on the same memory that is not an autograd
    view: torch.compile guards on a view's base, whose shape would make a kernel per ndim.
    Parameters and state tensors live across steps: with a `cache` (the optimizer's, a dict by
    id holding the tensor itself, so that no other tensor can take its id) an alias is kept
    until the tensor's memory or size changes (``p.data = ...``)."""
    if cache is not None:
        cached = cache.get(id(t))
        if cached is not None and cached[0] is t and cached[1] == t.data_ptr() \
                and cached[2] == t.numel():
            return cached[3]
    real = _real(t)
    flat = real.new_empty(0).set_(real.untyped_storage(), real.storage_offset(), (real.numel(),),
                                  (1,))
    if cache is not None:
        cache[id(t)] = (t, t.data_ptr(), t.numel(), flat)
    return flat


def _alias_grad(p):
    """p's gradient as a 1-D tensor (a copy when it is not contiguous: it is only read). Not
    cached: a gradient is usually a new tensor each step."""
    grad = _real(p.grad)
    if not grad.is_contiguous():
        return grad.reshape(-1)
    return _alias(grad)


def _unflat(t, p):
    """A flat state tensor made by the rule, in `p`'s shape (complex where `p` is)."""
    t = t.view(_real(p.detach()).shape)
    return torch.view_as_complex(t) if p.is_complex() else t


def _batch_key(p, state):
    """What parameters stepped together must share (device, real dtypes, scalar state, which
    state entries are None), or None when `p` must take the single path (a non-contiguous
    parameter or state tensor: its flat view would be a copy)."""
    if not p.is_contiguous():
        return None
    device, entries = p.device, []
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            if not value.is_contiguous() or value.device != device:
                return None
            entries.append((key, "tensor", _REAL_DTYPE.get(value.dtype, value.dtype)))
        else:
            entries.append((key, type(value).__name__, value))
    grad_dtype = p.grad.dtype
    return (device, _REAL_DTYPE.get(p.dtype, p.dtype), _REAL_DTYPE.get(grad_dtype, grad_dtype),
            tuple(entries))


_REAL_DTYPE = {torch.complex32: torch.float16, torch.complex64: torch.float32,
               torch.complex128: torch.float64}  # what a complex tensor's real pairs hold


_KERNELS: dict = {}
_OPTION_SETS: dict = defaultdict(set)
_WARNED: set = set()


def _fused_kernel(rule, hyperparameters, key, parallel):
    """The compiled rule for (rule, options, dtypes, device, state layout, parallel or not),
    made on first use; None once the rule has compiled FUSED_OPTIONS_LIMIT option sets (the
    caller then runs foreach)."""
    options = tuple(sorted((k, v) for k, v in hyperparameters.items() if k != "lr"))
    device, dtype, grad_dtype, entries = key
    layout = tuple((name, kind if kind == "tensor" else "scalar", dtype_or_value if kind == "tensor"
                    else None) for name, kind, dtype_or_value in entries)
    cache_key = (rule, options, str(device), dtype, grad_dtype, layout, parallel, FUSED_CHUNK)
    kernel = _KERNELS.get(cache_key)
    if kernel is not None:
        return kernel
    sets = _OPTION_SETS[rule]
    if options not in sets and len(sets) >= FUSED_OPTIONS_LIMIT:
        if rule not in _WARNED:
            _WARNED.add(rule)
            warnings.warn(f"impl='fused': {rule.__name__} has compiled {len(sets)} sets of "
                          "options (hyperparameters other than lr, which a scheduler may be "
                          "changing); further sets run the foreach rule instead of compiling",
                          RuntimeWarning, stacklevel=4)
        return None
    sets.add(options)
    kernel = _KERNELS[cache_key] = _compile(rule, dict(options),
                                            [name for name, kind, _ in layout if kind == "tensor"],
                                            [name for name, kind, _ in layout if kind != "tensor"],
                                            parallel)
    return kernel


_DUMMIES: dict = {}


def _dummies(key, entries, count):
    """`count` sets of (parameter, gradient, state tensors) of 2 elements each, distinct
    tensors (torch.compile guards on inputs that alias), to fill a chunk of the kernel."""
    if count == 0:
        return [], [], []
    device, dtype, grad_dtype, layout = key
    state_dtypes = [d for _, kind, d in layout if kind == "tensor"]
    cached = _DUMMIES.setdefault((str(device), dtype, grad_dtype, tuple(state_dtypes)), [])
    while len(cached) < count:
        cached.append((torch.zeros(2, dtype=dtype, device=device),
                       torch.zeros(2, dtype=grad_dtype, device=device),
                       [torch.zeros(2, dtype=d, device=device) for d in state_dtypes]))
    return ([c[0] for c in cached[:count]], [c[1] for c in cached[:count]],
            [c[2] for c in cached[:count]])


def _SPECIALIZE_FLOATS():
    """The options are Python floats the rules branch on (``is_active(weight_decay)``, SGD's
    ``momentum != 0``): torch.compile must take them as constants of the kernel, as it did
    before torch 2.6 made floats symbolic by default."""
    config = torch._dynamo.config
    if not hasattr(config, "specialize_float"):  # a torch that always specialises them
        return contextlib.nullcontext()
    return config.patch(specialize_float=True)


def _compile(rule, options, tensor_keys, scalar_keys, parallel):
    """torch.compile of `rule` on FUSED_CHUNK parameters' flat tensors, sizes dynamic, no graph
    breaks (fullgraph): `options` are constants of the kernel, lr and the scalar state inputs.
    The rule runs once per parameter, so a reduction stays per parameter."""

    def kernel(params, grads, states, scalars, lr):
        # the step's scalars, listed by every parameter's rule (each computes its own: inductor
        # does not merge them), are computed once per call, before the loops (_ops.HOISTED)
        _ops.HOISTED.append(None)
        new_scalars, lr = None, lr.reshape(())
        for param, grad, tensors in zip(params, grads, states):
            leaf = dict(zip(tensor_keys, tensors))
            # 0-d copies: a rule may update a scalar in place (SGD's step += 1)
            leaf.update(zip(scalar_keys, [s.reshape(()).clone() for s in scalars]))
            rule(param, grad, leaf, lr=lr, **options)
            new_scalars = new_scalars or tuple(leaf[k] for k in scalar_keys)
        hoisted = tuple(_ops.HOISTED[1:])
        _ops.HOISTED.clear()
        return new_scalars, hoisted

    # torch.compile keeps its cache, and its recompile limit, per code object: give each kernel
    # a code object of its own, so that one rule's option sets do not share (and exhaust) one
    kernel.__code__ = kernel.__code__.replace(
        co_name=f"fused_{rule.__name__}_{len(_KERNELS)}_{'parallel' if parallel else 'serial'}")
    # sizes are dynamic, so inductor would decide from the first call's sizes whether a loop
    # runs on all threads; here it is decided by the kernel (see FUSED_PARALLEL_MIN)
    options_ = {"cpp.dynamic_threads": True} if parallel else {"cpp.threads": 1}
    return torch.compile(kernel, dynamic=True, fullgraph=True, options=options_)


def _group_optimizer(opt: _OptlabOptimizer, group: dict) -> _OptlabOptimizer:
    """`opt` with `group`'s options, checked as the constructor checks them (bad ones raise)."""
    group_opt = opt.replace(**{name: group[name] for name in opt._public_hyperparameters()})
    _validate.floats_only(group_opt.hyperparameters)
    return group_opt


def _from_checkpoint(saved: dict, opt: _OptlabOptimizer, p, index: int) -> dict:
    """A parameter's loaded state in the form `opt`'s rule takes, or ValueError if it lacks an
    entry the rule needs or holds one of another shape."""
    fresh = opt.init_leaf(torch.zeros(()))  # the entries and their kinds, not their values
    state = dict(saved)
    for key in _NOT_IN_TORCH_CHECKPOINTS.get(type(opt).rule, ()):
        state.setdefault(key, fresh[key])
    missing = sorted(set(fresh) - set(state))
    if missing:
        raise ValueError(
            f"the checkpoint's state for parameter {index} lacks {missing}, which {opt!r} needs "
            "(was it saved by another algorithm, or with other options?)"
        )
    for key, kind in fresh.items():
        value = state[key]
        if isinstance(kind, (int, float)):  # a 0-d tensor, or a number of another type
            state[key] = type(kind)(value.item() if torch.is_tensor(value) else value)
        elif torch.is_tensor(kind) and torch.is_tensor(value) and value.shape != p.shape:
            raise ValueError(
                f"the checkpoint's {key} for parameter {index} has shape {tuple(value.shape)} but "
                f"the parameter has shape {tuple(p.shape)}"
            )
    return state


def _real(x):
    """A complex tensor as its real pairs (a view, shape (..., 2)); anything else as it is."""
    return torch.view_as_real(x) if torch.is_tensor(x) and x.is_complex() else x


def _like(p, state: dict) -> dict:
    """`state` (computed on real pairs) with its tensors viewed as complex where `p` is."""
    if not p.is_complex():
        return state
    return {k: torch.view_as_complex(v) if torch.is_tensor(v) else v for k, v in state.items()}


def _copy(state):
    return None if state is None else {k: v.clone() if torch.is_tensor(v) else v
                                       for k, v in state.items()}


def _extremes(x):
    """(min x, max x) as a 2-vector: NaN or inf exactly when an entry of x is (0 for an empty x).
    Unlike a sum it cannot overflow, and unlike max |x| it needs no temporary |x|."""
    x = _real(x)
    return torch.stack(torch.aminmax(x)) if x.numel() else x.new_zeros(2)


def _all_finite(values):
    """None when every tensor in `values` is finite (one host read per device), else a list of
    bools, one per tensor."""
    by_device = defaultdict(list)
    for value in values:
        by_device[value.device].append(value)
    if all(bool(torch.isfinite(torch.stack(group)).all()) for group in by_device.values()):
        return None
    return [bool(torch.isfinite(value).all()) for value in values]


def torch_optimizer(opt: _OptlabOptimizer, params, *, check_finite: bool = True,
                    impl: str | None = None):
    """``torch.optim.Optimizer`` running `opt`'s rule on `params` (tensors or param-group dicts).

    ``impl`` chooses how: ``"single"`` (one parameter at a time), ``"foreach"`` (a group's
    parameters together, ``torch._foreach_*`` kernels) or ``"fused"`` (the rule compiled by
    ``torch.compile``; the first step compiles, seconds, once per rule and options for the
    process). The default, None, is torch.optim's: foreach when every parameter of a group is on
    CUDA (or another device with foreach kernels), single on the CPU. All three compute the same
    numbers (the same operations; compiled code may round differently in the last bit).

    ``check_finite`` (the default) means what it means on the NumPy path: a NaN or infinite
    gradient, or a step that makes a parameter or its state NaN or infinite, raises
    FloatingPointError naming the parameter, and parameters and state are left as they were.
    For that the step keeps a copy of each parameter and its state until the check has passed
    and reads one boolean back per device. Pass False for torch.optim's behaviour and speed
    (no check, no copy).
    """
    return OptlabTorchOptimizer(opt, params, check_finite=check_finite, impl=impl)
