r"""Test landscapes with exact gradients and Hessians, vectorised over a batch of points.

Every objective takes points ``x`` of shape ``(..., d)`` and returns values of shape ``(...)``,
gradients of shape ``(..., d)`` and Hessians of shape ``(..., d, d)``, so one call evaluates a
whole sweep. ``value`` is written with operators, ``**`` and indexing only, so it also accepts a
torch tensor: ``objective.value(torch_tensor)`` can be differentiated by autograd, which is how
the tests check ``grad`` and ``hessian``. ``grad`` and ``hessian`` return NumPy arrays.

References: Rosenbrock (1960), "An automatic method for finding the greatest or least value of a
function", The Computer Journal 3(3):175-184; Beale (1958), "On an iterative method for finding a
local minimum of a function of more than one variable", Technical Report 25, Statistical
Techniques Research Group, Princeton University.
"""

from __future__ import annotations

import numpy as np


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


class Objective:
    """A function f: ℝᵈ → ℝ with its exact gradient (and Hessian), evaluated on batches of points.

    Subclasses set ``dim``, ``name``, ``minimizers`` (shape (k, d), empty (0, d) when f is
    unbounded below) and ``min_value`` (None when unbounded), and write ``_value``, ``_grad`` and
    ``_hessian`` on a checked ``x``.
    """

    dim: int
    name: str
    minimizers: np.ndarray
    min_value: float | None

    def value(self, x):
        """f(x), shape ``x.shape[:-1]``; accepts NumPy arrays and torch tensors."""
        return self._value(self._check(x))

    __call__ = value

    def grad(self, x) -> np.ndarray:
        """∇f(x), shape ``x.shape``."""
        return self._grad(self._check(x, numpy=True))

    def hessian(self, x) -> np.ndarray:
        """∇²f(x), shape ``x.shape + (d,)``."""
        return self._hessian(self._check(x, numpy=True))

    def _check(self, x, numpy=False):
        if not _is_torch(x) or numpy:
            x = np.asarray(x, dtype=float)  # ints would overflow in x**4 and floor-divide
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(
                f"x has shape {tuple(x.shape)}, but {self.name} needs points of shape (..., "
                f"{self.dim}): the last axis of x must have length {self.dim}"
            )
        return x

    def _const(self, array, x):
        """A constant array in x's library (so that torch tensors meet tensors)."""
        if _is_torch(x):
            import torch

            return torch.as_tensor(array, dtype=x.dtype, device=x.device)
        return array

    def _hessian(self, x):
        raise NotImplementedError(f"{self.name} has no Hessian")

    def __repr__(self) -> str:
        return self.name


class Quadratic(Objective):
    r"""f(x) = ½ xᵀAx − bᵀx + c with A symmetric: ∇f = Ax − b, ∇²f = A.

    When A is positive definite the unique minimiser is A⁻¹b with value c − ½ bᵀA⁻¹b. Otherwise
    ``minimizers`` is empty and ``min_value`` None: f is unbounded below, or (A singular and
    positive semidefinite) its minimisers form an affine subspace that is not listed.
    """

    def __init__(self, A, b=None, c=0.0):
        A = np.array(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square matrix, got shape {A.shape}")
        if not np.isfinite(A).all():
            raise ValueError("A has NaN or infinite entries")
        asymmetry = np.abs(A - A.T).max(initial=0.0)
        if asymmetry > 1e-12 * max(1.0, np.abs(A).max(initial=0.0)):
            raise ValueError(f"A must be symmetric, but max|A - Aᵀ| = {asymmetry:.3g}")
        # exact symmetry makes grad the exact gradient of value, not of its symmetric part
        self.A = (A + A.T) / 2
        d = A.shape[0]
        self.b = np.zeros(d) if b is None else np.array(b, dtype=float)
        if self.b.shape != (d,):
            raise ValueError(f"b must have shape ({d},) to match A of shape {A.shape}, "
                             f"got {self.b.shape}")
        self.c = float(c)
        self.dim = d
        self.name = f"Quadratic(dim={d})"
        self.eigenvalues = np.linalg.eigvalsh(self.A)
        lo, hi = self.eigenvalues[0], self.eigenvalues[-1]
        self.condition_number = float(hi / lo) if lo > 0 else float("inf")
        if lo > 0:
            x_star = np.linalg.solve(self.A, self.b)
            self.minimizers = x_star[None, :]
            self.min_value = float(self.c - 0.5 * self.b @ x_star)
        else:
            self.minimizers = np.empty((0, d))
            self.min_value = None

    @classmethod
    def ill_conditioned(cls, kappa, dim=2, angle=0.0) -> "Quadratic":
        """½ xᵀAx with eigenvalues 1 and κ (log-spaced between them for dim > 2), minimum at 0.

        The eigenvectors are the coordinate axes rotated by `angle` radians in the (x₀, x₁) plane,
        so with angle=0 the valley runs along x₀ (eigenvalue 1) and the steep wall along x₁.
        """
        if not kappa >= 1:
            raise ValueError(f"kappa must be >= 1, got {kappa}")
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        eigenvalues = np.geomspace(1.0, kappa, dim)
        rotation = np.eye(dim)
        cos, sin = np.cos(angle), np.sin(angle)
        rotation[:2, :2] = [[cos, -sin], [sin, cos]]
        A = rotation @ np.diag(eigenvalues) @ rotation.T
        q = cls((A + A.T) / 2)
        q.name = f"Quadratic.ill_conditioned(kappa={kappa:g}" + (
            f", dim={dim}" if dim != 2 else "") + (f", angle={angle:g})" if angle else ")")
        return q

    def _Ax(self, x):
        # broadcast-and-sum rather than matmul: BLAS picks different kernels (and FMA use) for a
        # batch and for one vector, and a sweep row must equal its single run bit for bit
        return (self._const(self.A, x) * x[..., None, :]).sum(-1)

    def _value(self, x):
        b = self._const(self.b, x)
        return 0.5 * (x * self._Ax(x)).sum(-1) - (b * x).sum(-1) + self.c

    def _grad(self, x):
        return self._Ax(x) - self.b

    def _hessian(self, x):
        return np.broadcast_to(self.A, x.shape + (self.dim,)).copy()


class Rosenbrock(Objective):
    r"""Rosenbrock's banana valley (Rosenbrock 1960): f(x, y) = (a − x)² + b(y − x²)².

    The global minimiser is (a, a²) with value 0; the curved valley floor y = x² is what makes
    it hard for methods that follow the gradient.
    """

    dim = 2

    def __init__(self, a=1.0, b=100.0):
        self.a, self.b = float(a), float(b)
        self.name = f"Rosenbrock(a={self.a:g}, b={self.b:g})"
        self.minimizers = np.array([[self.a, self.a ** 2]])
        self.min_value = 0.0

    def _value(self, p):
        x, y = p[..., 0], p[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x ** 2) ** 2

    def _grad(self, p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([-2 * (self.a - x) - 4 * self.b * x * (y - x ** 2),
                         2 * self.b * (y - x ** 2)], axis=-1)

    def _hessian(self, p):
        x, y = p[..., 0], p[..., 1]
        xy = -4 * self.b * x
        return _sym2(2 - 4 * self.b * y + 12 * self.b * x ** 2, xy,
                     np.full_like(x, 2 * self.b))


class Beale(Objective):
    r"""Beale's function (Beale 1958): f = Σᵢ₌₁³ (cᵢ − x + x yⁱ)², c = (1.5, 2.25, 2.625).

    The global minimiser is (3, 0.5) with value 0; flat plateaus and steep ridges (f grows like
    x² y⁶) make the learning rate hard to choose.
    """

    dim = 2
    name = "Beale"
    c = (1.5, 2.25, 2.625)

    def __init__(self):
        self.minimizers = np.array([[3.0, 0.5]])
        self.min_value = 0.0

    def _value(self, p):
        x, y = p[..., 0], p[..., 1]
        return sum((c - x + x * y ** i) ** 2 for i, c in enumerate(self.c, start=1))

    def _grad(self, p):
        x, y = p[..., 0], p[..., 1]
        gx = gy = 0
        for i, c in enumerate(self.c, start=1):
            u = c - x + x * y ** i
            gx = gx + 2 * u * (y ** i - 1)
            gy = gy + 2 * u * i * x * y ** (i - 1)
        return np.stack([gx, gy], axis=-1)

    def _hessian(self, p):
        x, y = p[..., 0], p[..., 1]
        hxx = hxy = hyy = 0
        for i, c in enumerate(self.c, start=1):
            u = c - x + x * y ** i
            du_dx, du_dy = y ** i - 1, i * x * y ** (i - 1)
            d2u_dxdy = i * y ** (i - 1)
            d2u_dy2 = i * (i - 1) * x * y ** (i - 2) if i > 1 else 0
            hxx = hxx + 2 * du_dx ** 2
            hxy = hxy + 2 * (du_dx * du_dy + u * d2u_dxdy)
            hyy = hyy + 2 * (du_dy ** 2 + u * d2u_dy2)
        return _sym2(hxx, hxy, hyy)


class Saddle(Objective):
    r"""f(x, y) = ½(x² − y²): a strict saddle at the origin, unbounded below along y.

    The gradient (x, −y) vanishes at the origin, which is not a minimum: the Hessian diag(1, −1)
    has a negative eigenvalue. GD started exactly on the x axis converges to the saddle; any
    perturbation in y grows like (1 + lr)ᵗ.
    """

    dim = 2
    name = "Saddle"

    def __init__(self):
        self.minimizers = np.empty((0, 2))
        self.min_value = None

    def _value(self, p):
        return 0.5 * (p[..., 0] ** 2 - p[..., 1] ** 2)

    def _grad(self, p):
        return p * np.array([1.0, -1.0])

    def _hessian(self, p):
        return np.broadcast_to(np.diag([1.0, -1.0]), p.shape + (2,)).copy()


def _sym2(hxx, hxy, hyy):
    """A batch of symmetric 2×2 matrices from their three distinct entries."""
    hxx, hxy, hyy = np.broadcast_arrays(hxx, hxy, hyy)
    return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)
