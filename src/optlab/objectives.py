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


def _softplus(z):
    """log(1 + eᶻ) without overflow, for NumPy arrays and torch tensors."""
    if _is_torch(z):
        import torch

        return torch.nn.functional.softplus(z)
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    """1 / (1 + e⁻ᶻ) = exp(−log(1 + e⁻ᶻ)), which neither overflows nor loses tiny values."""
    return np.exp(-np.logaddexp(0.0, -z))


class SparseLogistic(Objective):
    r"""Logistic regression on sparse binary features whose frequencies follow Zipf's law.

    f(w) = (1/n) Σᵢ log(1 + exp(−yᵢ xᵢᵀw)) + (λ/2)‖w‖²,   labels yᵢ ∈ {−1, +1}.

    Feature j (0-based) is on (xᵢⱼ = 1) with probability ``max_rate / (j + 1) ** zipf``: the
    first features are common and the last ones rare, the setting where AdaGrad's per-coordinate
    steps pay off (Duchi, Hazan and Singer 2011). Labels come from the model itself,
    P(yᵢ = 1) = σ(xᵢᵀw_true) with w_true ~ N(0, weight_scale²), so the data are not separable.
    Everything is drawn from ``np.random.default_rng(seed)``.

    ∇f = −(1/n) Σᵢ σ(−yᵢxᵢᵀw) yᵢxᵢ + λw  and  ∇²f = (1/n) Σᵢ σ(xᵢᵀw)σ(−xᵢᵀw) xᵢxᵢᵀ + λI.
    A coordinate's gradient is a sum over the samples in which its feature is on, so a rare
    feature gets small gradients and little curvature. For λ > 0 the minimiser is unique; it is
    computed once by Newton's method and listed in ``minimizers``. ``sample_grad`` gives the
    gradient of a minibatch. The sums over samples and features run along the last axis of
    contiguous arrays, so a row of a sweep is computed exactly as the single run it stands for.
    """

    def __init__(self, n_samples=2000, n_features=50, *, zipf=1.0, max_rate=0.5,
                 weight_scale=2.0, l2=1e-3, seed=0):
        if n_samples < 1 or n_features < 1:
            raise ValueError(f"need n_samples >= 1 and n_features >= 1, got {n_samples} and "
                             f"{n_features}")
        if not 0 < max_rate <= 1:
            raise ValueError(f"max_rate is a probability in (0, 1], got {max_rate}")
        for name, value in (("zipf", zipf), ("weight_scale", weight_scale), ("l2", l2)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        rng = np.random.default_rng(seed)
        self.dim = int(n_features)
        self.l2 = float(l2)
        self.rates = max_rate / np.arange(1, n_features + 1) ** zipf
        self.X = (rng.random((n_samples, n_features)) < self.rates).astype(float)
        self.w_true = weight_scale * rng.standard_normal(n_features)
        self.y = np.where(rng.random(n_samples) < _sigmoid(self.X @ self.w_true), 1.0, -1.0)
        self.frequency = self.X.mean(0)  # the observed fraction of samples with feature j on
        # yᵢxᵢ in both layouts: samples × features for margins, features × samples for gradients
        self._YX = self.y[:, None] * self.X
        self._YXt = np.ascontiguousarray(self._YX.T)
        self.name = (f"SparseLogistic(n_samples={n_samples}, n_features={n_features}, "
                     f"zipf={zipf:g}, l2={self.l2:g}, seed={seed})")
        if self.l2 > 0:
            w = self._newton()
            self.minimizers = w[None, :]
            self.min_value = float(self._value(w))
        else:  # the minimum may lie at infinity (a feature that only ever meets one label)
            self.minimizers = np.empty((0, self.dim))
            self.min_value = None

    def _margins(self, w, YX=None):
        """yᵢ xᵢᵀw, shape (..., n)."""
        YX = self._YX if YX is None else YX
        return (self._const(YX, w) * w[..., None, :]).sum(-1)

    def _value(self, w):
        return _softplus(-self._margins(w)).mean(-1) + 0.5 * self.l2 * (w * w).sum(-1)

    def _grad(self, w, rows=None):
        YX = self._YX if rows is None else self._YX[rows]
        YXt = self._YXt if rows is None else np.ascontiguousarray(YX.T)
        misfit = _sigmoid(-self._margins(w, YX))  # in (0, 1): how badly each sample is fit
        return -(YXt * misfit[..., None, :]).sum(-1) / YX.shape[0] + self.l2 * w

    def sample_grad(self, w, rows) -> np.ndarray:
        """The gradient of the loss averaged over the samples ``rows`` (plus the L2 term): an
        unbiased estimate of ``grad(w)`` when the rows are drawn uniformly."""
        rows = np.asarray(rows)
        if rows.size == 0:
            raise ValueError("rows is empty: a minibatch needs at least one sample")
        return self._grad(self._check(w, numpy=True), rows)

    def _hessian(self, w):
        s = _sigmoid(self._margins(w))
        weights = s * (1 - s) / self.y.shape[0]
        return np.einsum("...i,ij,ik->...jk", weights, self.X, self.X) + self.l2 * np.eye(self.dim)

    def _newton(self, tol=1e-13, max_iter=100):
        """The minimiser, by Newton's method with step halving (f is strictly convex)."""
        w, f = np.zeros(self.dim), self._value(np.zeros(self.dim))
        for _ in range(max_iter):
            step = np.linalg.solve(self._hessian(w), self._grad(w))
            if np.abs(step).max() < 1e-8:  # quadratic convergence: take full steps to the end
                w = w - step
                if np.abs(step).max() < tol:
                    break
                continue
            scale = 1.0
            while self._value(w - scale * step) > f and scale > 1e-8:
                scale /= 2
            w = w - scale * step
            f = self._value(w)
        return w
