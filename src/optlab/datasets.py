"""Real data sets that need no download: the ones scikit-learn ships inside its wheel.

    data = load_digits()            # 1,797 8×8 handwritten digits, 10 classes
    data.x_train.shape              # torch.Size([1347, 64]), float64, standardized
    data = load_breast_cancer()     # 569 tumours, 30 features, 2 classes (a convex logistic problem)

Each loader makes one fixed split (``test_fraction`` of the samples, stratified by class, drawn
from ``np.random.default_rng(split_seed)``) and standardizes every feature with the training
set's mean and standard deviation only, so no test statistic leaks into training. A feature that
is constant on the training set (the digits' border pixels) is centred and left unscaled.
Imports torch and scikit-learn.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class Dataset:
    """A standardized train/test split. x_*: (n, features) float tensors; y_*: (n,) int64 labels.

    ``image_shape`` is (1, 8, 8) for the digits (``x.view(-1, *image_shape)`` gives images), None
    for tabular data. ``mean`` and ``scale`` are the training statistics the inputs were
    standardized with (NumPy arrays, float64).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int
    image_shape: tuple | None
    mean: np.ndarray
    scale: np.ndarray

    @property
    def features(self) -> int:
        return self.x_train.shape[1]

    def numpy(self):
        """(x_train, y_train, x_test, y_test) as NumPy arrays."""
        return tuple(t.cpu().numpy() for t in (self.x_train, self.y_train, self.x_test, self.y_test))

    def to(self, device=None, dtype=None) -> "Dataset":
        """The same split with inputs on `device` in `dtype` (labels stay int64)."""
        move = lambda t, dt: t.to(device=device, dtype=dt)  # noqa: E731
        return Dataset(self.name, move(self.x_train, dtype), move(self.y_train, None),
                       move(self.x_test, dtype), move(self.y_test, None), self.classes,
                       self.image_shape, self.mean, self.scale)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}: {len(self.y_train)} train, {len(self.y_test)} test, "
                f"{self.features} features, {self.classes} classes, {self.x_train.dtype})")


def load_digits(*, test_fraction: float = 0.25, split_seed: int = 0,
                dtype=torch.float64) -> Dataset:
    """scikit-learn's copy of the UCI optical digits: 1,797 8×8 images of 0–9, pixel values 0–16."""
    from sklearn.datasets import load_digits as load

    x, y = load(return_X_y=True)
    return _split("digits", x, y, (1, 8, 8), test_fraction, split_seed, dtype)


def load_breast_cancer(*, test_fraction: float = 0.25, split_seed: int = 0,
                       dtype=torch.float64) -> Dataset:
    """scikit-learn's copy of the Wisconsin diagnostic breast cancer data: 569 samples, 30
    features, benign or malignant."""
    from sklearn.datasets import load_breast_cancer as load

    x, y = load(return_X_y=True)
    return _split("breast_cancer", x, y, None, test_fraction, split_seed, dtype)


def _check(test_fraction, split_seed, dtype):
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) \
            or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if isinstance(split_seed, bool) or not isinstance(split_seed, numbers.Integral) \
            or split_seed < 0:
        raise ValueError(f"split_seed must be an integer >= 0, got {split_seed!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float64, "
                        f"got {dtype!r}")


def _split(name, x, y, image_shape, test_fraction, split_seed, dtype) -> Dataset:
    _check(test_fraction, split_seed, dtype)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(split_seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):  # stratified: each class split in the same proportion
        members = np.flatnonzero(y == label)
        n_test = int(round(test_fraction * len(members)))
        if n_test == 0 or n_test == len(members):
            raise ValueError(f"test_fraction={test_fraction} leaves class {label} "
                             f"({len(members)} samples) without a train or a test sample")
        test[rng.choice(members, n_test, replace=False)] = True
    mean = x[~test].mean(axis=0)
    scale = x[~test].std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature: centred, not divided by zero
    standardized = (x - mean) / scale
    as_x = lambda a: torch.tensor(a, dtype=dtype)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return Dataset(name, as_x(standardized[~test]), as_y(y[~test]), as_x(standardized[test]),
                   as_y(y[test]), int(y.max()) + 1, image_shape, mean, scale)
