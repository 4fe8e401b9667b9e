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
"""

from __future__ import annotations

import sys

import numpy as np


def _is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def _is_symbolic(x) -> bool:
    """A NumPy array of SymPy expressions (dtype object), or a SymPy expression itself."""
    if isinstance(x, np.ndarray):
        return x.dtype == object
    return type(x).__module__.startswith("sympy")


def _is_tensor(x) -> bool:
    torch = sys.modules.get("torch")  # no tensor can exist before torch is imported
    return torch is not None and isinstance(x, torch.Tensor)


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
    return np.zeros_like(x) if _is_numpy(x) else x.new_zeros(x.shape)


def full_like(x, value):
    if _is_numpy(x):
        return np.full_like(x, value)
    return x.new_full(x.shape, float(value))


def scale_(x, factor):
    """x ← factor · x"""
    x *= factor
    return x


def add_(x, y, scale=1.0):
    """x ← x + scale · y"""
    if _is_numpy(x):
        x += scale * y
        return x
    if _is_tensor(scale):
        return x.addcmul_(y, scale)  # x + y·scale; add_'s alpha must be a number
    return x.add_(y, alpha=scale)


def add_ratio_(x, numerator, denominator, scale=1.0):
    """x ← x + scale · numerator / denominator"""
    if _is_numpy(x):
        x += scale * (numerator / denominator)
        return x
    if _is_tensor(scale):  # addcdiv_ computes x + (value·numerator)/denominator: the same order
        return x.addcdiv_(scale * numerator, denominator)
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
    return average.lerp_(x, 1 - decay)


def ema_square_(average, x, decay):
    """average ← decay · average + (1 − decay) · x²"""
    if _is_numpy(average):
        average *= decay
        average += (1 - decay) * (x * x)
        return average
    if _is_tensor(decay):  # addcmul_ computes a + (value·x)·x: the same order
        return average.mul_(decay).addcmul_((1 - decay) * x, x)
    return average.mul_(decay).addcmul_(x, x, value=1 - decay)


def maximum_(x, y):
    """x ← max(x, y), elementwise"""
    if _is_symbolic(x):
        x[...] = np.vectorize(_sympy().Max, otypes=[object])(x, y)
        return x
    if _is_numpy(x):
        return np.maximum(x, y, out=x)
    torch = sys.modules["torch"]  # x is a tensor, so torch is already imported
    return torch.maximum(x, y, out=x)


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
    return grad + weight_decay * param


def where(condition, if_true, if_false):
    """A branch on a (possibly array) scalar condition such as RAdam's ρ_t > 5."""
    if _is_symbolic(condition) and not isinstance(condition, np.ndarray) \
            and condition not in (True, False):
        sp = _sympy()
        return sp.Piecewise((if_true, condition), (if_false, True))
    if _is_tensor(condition) and condition.ndim > 0:
        torch = sys.modules["torch"]
        return torch.where(condition, if_true, if_false)
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
    return base ** exponent
