"""The handful of array operations the update rules are written in.

Each rule in optlab is written once and runs on NumPy arrays (the book's default) and on torch
tensors (the torch path, CPU or CUDA). The two libraries agree on operators (``+ - * /``) but not on
in-place fused kernels, which is where torch.optim gets its speed; these helpers name the few
fused steps an optimizer needs and pick the library's best kernel for each. Every helper that ends
in ``_`` changes its first argument in place and returns it.

Hyperparameters may be NumPy arrays that broadcast against a batch of parameters on the NumPy
path. On the torch path they are Python floats (as torch.optim's kernels take), and then every
helper calls the very kernel torch.optim calls; or torch tensors that broadcast against a batch of
parameters (``optlab.train`` trains N configurations at once with lr of shape (N, 1, ..., 1)).
torch's fused kernels take only numbers as their ``alpha``/``value``, so with a tensor the
helpers fold the factor into an operand, in the order the kernel multiplies
(``addcdiv_(t1, t2, value=v)`` computes x + (v·t1)/t2, so ``addcdiv_(v * t1, t2)`` rounds as it
does); a row then equals its float run to the last bit or two, not always bit for bit. The float
path is unchanged.

A third kind of value runs through the same rules: NumPy arrays of dtype ``object`` holding SymPy
expressions (``optlab.symbolic.run_rule`` makes them). NumPy's in-place operators work on them
element by element, so the very lines that update a float array update a symbolic one; only the
few operations NumPy cannot apply to SymPy objects (square root, maximum, a branch) are routed to
SymPy here. That is how the book's SymPy cells check the code the book runs, not a copy of it.

The torch path adds two more (see ``optlab.torch_adapter``): a ``TensorList`` (``optlab._foreach``),
a group's tensors that the tensor branches below update together through ``torch._foreach_*``
kernels (impl="foreach"), and tensors traced by ``torch.compile`` (impl="fused"), for which
``where`` branches with ``torch.where`` and the scalars of a step are marked to be computed once
(``HOISTED``).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ._foreach import TensorList


def _is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def _is_symbolic(x) -> bool:
    """A NumPy array of SymPy expressions (dtype object), or a SymPy expression itself."""
    if isinstance(x, np.ndarray):
        return x.dtype == object
    if isinstance(x, (bool, int, float)):  # (and torch.compile can trace the test below on
        return False                       # tensors, not on Python numbers)
    return type(x).__module__.startswith("sympy")


def _is_tensor(x) -> bool:
    """A torch tensor, or a TensorList (the torch path's foreach impl: a group's tensors that
    the helpers below update together with torch._foreach_* kernels)."""
    if isinstance(x, TensorList):
        return True
    torch = sys.modules.get("torch")  # no tensor can exist before torch is imported
    return torch is not None and isinstance(x, torch.Tensor)


# Scalars computed from tensors under torch.compile (the fused torch path passes lr and the step
# count as 0-d tensors, so a bias correction β^t is a 0-d tensor too). Inductor inlines such a
# scalar into the loop over the parameter's elements and recomputes it there, a `pow` per vector
# of 16 floats; a graph output it computes once, before the loop. The helpers below append the
# scalars they make or take (``power``'s results, the factors of ``add_``, ``add_ratio_``,
# ``ema_``, ...) to this list while the fused kernel is traced (it opens the list with a None and
# returns the entries after it as extra outputs, then empties it). Nothing is appended otherwise,
# not even when a caller compiles a training step that runs a rule.
HOISTED: list = []


def _hoist(x):
    """`x`, listed in HOISTED when it is a 0-d tensor made while the fused kernel is traced."""
    if HOISTED and _is_tensor(x) and not isinstance(x, TensorList) and x.ndim == 0 \
            and _compiling():
        HOISTED.append(x)
    return x


def _compiling() -> bool:
    """True while torch.compile traces a rule (the torch path's impl="fused")."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    compiler = getattr(torch, "compiler", None)
    return bool(getattr(compiler, "is_compiling", lambda: False)())


def _sympy():
    return sys.modules["sympy"]  # a symbolic value exists, so sympy is already imported


def is_active(hyperparameter) -> bool:
    """True when a hyperparameter (float or array) is non-zero somewhere, i.e. its term runs."""
    if isinstance(hyperparameter, (bool, int, float)):
        return hyperparameter != 0
    if _is_tensor(hyperparameter):
        return bool((hyperparameter != 0).any())
    return bool(np.any(np.asarray(hyperparameter) != 0))


def sqrt(x):
    if _is_symbolic(x):
        return np.vectorize(_sympy().sqrt, otypes=[object])(x)
    return np.sqrt(x) if _is_numpy(x) else x.sqrt()


def absolute(x):
    return np.abs(x) if _is_numpy(x) or _is_symbolic(x) else x.abs()


def clone(x):
    if _is_symbolic(x):  # also a bare SymPy value, as `weight_decay * param` gives
        return np.array(x, dtype=object)
    return np.array(x) if _is_numpy(x) else x.clone()  # np.array: a 0-d array stays mutable


def zeros_like(x):
    if isinstance(x, TensorList):
        return x.zeros_like()
    return np.zeros_like(x) if _is_numpy(x) else x.new_zeros(x.shape)


def full_like(x, value):
    if _is_numpy(x):
        return np.full_like(x, value)
    if isinstance(x, TensorList):
        return x.full_like(value)
    return x.new_full(x.shape, float(value))


def scale_(x, factor):
    """x ← factor · x"""
    x *= factor
    return x


# -- temporaries on the NumPy path ----------------------------------------------------------------
# A rule's NumPy lines make a temporary array per operation; at a million parameters each is a
# fresh 8 MB block (glibc maps blocks that large afresh, so every one costs page faults). Where
# a product is formed from a temporary the helpers below reuse that temporary's memory, when
# doing so rounds exactly as the plain expression does: the result has the temporary's dtype and
# shape (a float32 temporary times a float64 array would round twice), multiplication and
# addition commute in IEEE arithmetic, so ``a * t`` and ``t *= a`` give the same bits.

def _reusable(temporary, other) -> bool:
    """True when ``temporary ∘ other`` (∘ a ufunc) can be written into `temporary` with the
    result the plain expression gives: a float array whose dtype and shape the result keeps."""
    if type(temporary) is not np.ndarray or temporary.dtype.kind != "f":
        return False  # a NumPy scalar (0-d arithmetic), a SymPy array, a tensor
    if type(other) is float or type(other) is int:
        return True  # a Python number takes the array's dtype (NumPy 2's weak scalars, and 1.x)
    shape, target = np.shape(other), temporary.shape
    if len(shape) > len(target):
        return False
    for n, m in zip(shape[::-1], target[::-1]):
        if n != 1 and n != m:
            return False
    return np.result_type(temporary, other) == temporary.dtype


def _times(temporary, factor):
    """factor · temporary, written into `temporary` where that gives the same bits."""
    if _reusable(temporary, factor):
        return np.multiply(temporary, factor, out=temporary)
    return factor * temporary


def add_(x, y, scale=1.0):
    """x ← x + scale · y"""
    if _is_numpy(x):
        x += scale * y
        return x
    if _is_tensor(scale):
        return x.addcmul_(y, _hoist(scale))  # x + y·scale; add_'s alpha must be a number
    return x.add_(y, alpha=scale)


def add_ratio_(x, numerator, denominator, scale=1.0):
    """x ← x + scale · numerator / denominator"""
    if _is_numpy(x):
        x += _times(numerator / denominator, scale)
        return x
    if _is_tensor(scale):  # addcdiv_ computes x + (value·numerator)/denominator: the same order
        return x.addcdiv_(_hoist(scale) * numerator, denominator)
    return x.addcdiv_(numerator, denominator, value=scale)


def add_square_(x, y):
    """x ← x + y²"""
    if _is_numpy(x):
        x += y * y
        return x
    return x.addcmul_(y, y)


def ema_(average, x, decay):
    """average ← decay · average + (1 − decay) · x   (an exponential moving average)"""
    if _is_numpy(average):
        average *= decay
        average += (1 - decay) * x
        return average
    return average.lerp_(x, _hoist(1 - decay))


def ema_square_(average, x, decay):
    """average ← decay · average + (1 − decay) · x²"""
    if _is_numpy(average):
        average *= decay
        average += _times(x * x, 1 - decay)
        return average
    if _is_tensor(decay):  # addcmul_ computes a + (value·x)·x: the same order
        return average.mul_(_hoist(decay)).addcmul_(_hoist(1 - decay) * x, x)
    return average.mul_(decay).addcmul_(x, x, value=1 - decay)


def maximum_(x, y):
    """x ← max(x, y), elementwise"""
    return _extremum_(x, y, "Max", np.maximum, "maximum")


def minimum_(x, y):
    """x ← min(x, y), elementwise"""
    return _extremum_(x, y, "Min", np.minimum, "minimum")


def _extremum_(x, y, sympy_name, numpy_function, torch_name):
    """x ← the elementwise max or min of x and y, in place: SymPy's Max/Min on symbolic values,
    NumPy's ufunc with out=x, torch's function with out=x (the kernels torch.optim calls)."""
    if _is_symbolic(x):
        x[...] = np.vectorize(getattr(_sympy(), sympy_name), otypes=[object])(x, y)
        return x
    if _is_numpy(x):
        return numpy_function(x, y, out=x)
    if isinstance(x, TensorList):
        return getattr(x, f"{torch_name}_")(y)  # torch._foreach_maximum_ / _foreach_minimum_
    torch = sys.modules["torch"]  # x is a tensor, so torch is already imported
    return getattr(torch, torch_name)(x, y, out=x)


def clamp_(x, low, high):
    """x ← min(max(x, low), high), elementwise (torch's ``clamp_``); low, high may be arrays."""
    if _is_symbolic(x):
        sp = _sympy()
        x[...] = np.vectorize(lambda a, lo, hi: sp.Min(sp.Max(a, lo), hi), otypes=[object])(
            x, low, high)
        return x
    if _is_numpy(x):
        return np.clip(x, low, high, out=x)
    return x.clamp_(_hoist(low), _hoist(high))


def at_least(x, low: float):
    """max(x, low), elementwise, as a new array (SymPy values: ``low`` as the decimal typed)."""
    if _is_symbolic(x):
        sp = _sympy()
        return np.vectorize(lambda v: sp.Max(v, sp.Rational(repr(low))), otypes=[object])(x)
    if _is_numpy(x):
        return np.maximum(x, low)
    return x.clamp_min(low)


def apply_weight_decay(param, grad, lr, weight_decay, decoupled):
    """Weight decay two ways, for every rule that has it: returns the gradient to use.

    L2 (``decoupled`` False): the gradient g + λθ, a new array; ``param`` is untouched.
    Decoupled: θ ← θ(1 − γλ) in place, and the gradient unchanged (AdamW's and SGDW's decay,
    Loshchilov and Hutter 2019, with PyTorch's γλ in place of the paper's η_t λ).
    With λ = 0 everywhere neither runs, so a rule without decay does no extra arithmetic.
    """
    if not is_active(weight_decay):
        return grad
    if decoupled:
        scale_(param, 1 - lr * weight_decay)
        return grad
    decayed = weight_decay * param
    if _reusable(decayed, grad):
        return np.add(decayed, grad, out=decayed)  # λθ + g: the same sum, one temporary fewer
    return grad + decayed


def where(condition, if_true, if_false):
    """A branch on a (possibly array) scalar condition such as RAdam's ρ_t > 5."""
    if isinstance(condition, (bool, np.bool_)):
        return if_true if condition else if_false
    if _is_symbolic(condition) and not isinstance(condition, np.ndarray) \
            and condition not in (True, False):
        sp = _sympy()
        return sp.Piecewise((if_true, condition), (if_false, True))
    if _is_tensor(condition) and (condition.ndim > 0 or _compiling()):
        torch = sys.modules["torch"]  # (under torch.compile a 0-d condition cannot be read)
        return _hoist(torch.where(condition, if_true, if_false))
    if np.ndim(condition) == 0:
        return if_true if bool(condition) else if_false
    return np.where(condition, if_true, if_false)


_python_pow = np.frompyfunc(pow, 2, 1)


def power(base, exponent):
    """base ** exponent for hyperparameters (β^t, bias corrections), element by element with
    Python's pow, so a row of a sweep rounds exactly as the single run it stands for (NumPy's
    vectorised pow may differ from it in the last bit)."""
    if isinstance(base, np.ndarray) or isinstance(exponent, np.ndarray):
        return _python_pow(base, exponent).astype(np.float64)
    if isinstance(exponent, float) and _is_symbolic(base):
        return base ** _sympy().Rational(exponent)  # x**0.5 is the exact square root, not x**0.5000
    return _hoist(base ** exponent)


# -- reductions over one run ----------------------------------------------------------------------
# Most rules are elementwise; a few (FAdam's RMS clip, the cautious mask's count) reduce over a
# whole parameter array. Under a sweep (array hyperparameters broadcasting against a batch of
# parameters, one row per setting) each setting is its own run, so they reduce per run: over the
# axes along which no array hyperparameter varies.

def _shape(value):
    """The shape of an array or tensor hyperparameter; () for a number, a flag or a string."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.shape
    if _is_tensor(value):
        return tuple(value.shape)
    return ()


def run_axes(ndim: int, hyperparameters) -> tuple:
    """The axes of a parameter array (of `ndim` dimensions) that one run spans.

    An axis along which some array hyperparameter varies (has length > 1, shapes aligned from
    the right as broadcasting aligns them) indexes the runs of a sweep; every other axis belongs
    to the parameter of one run. With float hyperparameters (the torch path, a single run) that
    is every axis.
    """
    varying = set()
    for value in hyperparameters:
        for v in value if isinstance(value, tuple) else (value,):
            shape = _shape(v)
            for offset, length in enumerate(reversed(shape), start=1):
                if length != 1 and ndim - offset >= 0:
                    varying.add(ndim - offset)
    return tuple(axis for axis in range(ndim) if axis not in varying)


def run_sum(x, axes: tuple):
    """The sum of `x` over `axes`, kept as length-1 axes so that it broadcasts back against `x`."""
    if not axes:
        return x
    if _is_tensor(x):
        return x.sum(dim=axes, keepdim=True)
    return np.sum(x, axis=axes, keepdims=True)


def run_size(x, axes: tuple) -> int:
    """The number of elements of one run: the product of `x`'s lengths along `axes` (for a
    TensorList, whose tensors are flattened, a list: each tensor's length)."""
    if isinstance(x, TensorList):
        return x.sizes
    shape = tuple(getattr(x, "shape", ()))  # a SymPy scalar (0-d arithmetic gives one) has ()
    return math.prod([shape[a] for a in axes])  # (a symbolic size under torch.compile)


def run_rms(x, axes: tuple):
    """RMS(x) = √(mean of x²) over one run's elements (the axes `axes`), broadcastable to `x`."""
    n = run_size(x, axes)
    return sqrt(run_sum(x * x, axes) / n)
