"""Small torch models written for N copies at once: one forward pass trains them all.

    model = MLP(64, 10, hidden=(32,), dropout=0.2)
    params = model.init([0, 1, 2])                 # {"0.weight": (3, 32, 64), ...}: 3 copies
    logits = model(params, x)                      # x: (3, batch, 64), one minibatch per copy
    net = model.torch_module()                     # the same network as a plain nn.Sequential

A model is a list of layers (linear, convolution, activation, dropout, pooling). Its parameters
are a dict of tensors named as ``model.torch_module().state_dict()`` names them, each with a
leading axis of N copies; the forward pass is batched over that axis (``bmm`` for linear
layers, a grouped convolution for convolutions), so copy i sees only its own weights and its own
minibatch and the gradient of ``losses.sum()`` with respect to copy i is that of its own loss.

Copy i starts from exactly the weights ``torch.manual_seed(seeds[i]); model.torch_module()``
gives (PyTorch's default initialisation, in float64 unless told otherwise), so a plain PyTorch
script with the same seed is the reference a batched run is tested against. Dropout masks come
from one generator per copy (see ``dropout_masks``). Imports torch.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

# name -> (function, its in-place form, module)
_ACTIVATIONS = {"relu": (torch.relu, torch.relu_, torch.nn.ReLU),
                "tanh": (torch.tanh, torch.tanh_, torch.nn.Tanh)}


class Model:
    """N copies of a small feed-forward network. Build one with :func:`LogisticRegression`,
    :func:`MLP` or :func:`CNN`.

    ``input_features``: the length of an input row (images arrive flattened, as the data sets
    hold them). ``classes``: the number of logits.
    """

    def __init__(self, name: str, layers: list, input_features: int, classes: int):
        self.name, self.layers = name, tuple(layers)
        self.input_features, self.classes = input_features, classes

    def __repr__(self) -> str:
        return self.name

    # -- parameters ------------------------------------------------------------------------------
    def torch_module(self, *, dtype=torch.float64) -> torch.nn.Sequential:
        """The same network as an ordinary ``nn.Sequential`` (PyTorch's own initialisation from
        the global generator): the reference for a single run, or a home for one trained copy
        (``module.load_state_dict(result.row_params(i))``)."""
        return torch.nn.Sequential(*(layer.module(dtype) for layer in self.layers))

    def init(self, seeds, *, dtype=torch.float64, device=None, generators: list | None = None):
        """Stacked initial parameters, copy i drawn as ``torch.manual_seed(seeds[i]);
        self.torch_module(dtype=dtype)`` draws them. The global generator is left as it was.

        ``generators``: a list that receives, per copy, a ``torch.Generator`` continuing the
        seeded stream right after the initialisation (a plain script's next draws).
        """
        seeds = _seeds(seeds)
        _check_dtype(dtype)
        drawn = {}  # seed -> (its module's state_dict, the generator's state after it)
        with torch.random.fork_rng(devices=[]):
            for seed in dict.fromkeys(int(seed) for seed in seeds):  # each distinct seed once
                # The CPU generator is all these draws use: torch.manual_seed would also seed
                # every accelerator lazily, recording a stack trace each time (~0.3 ms a seed).
                torch.default_generator.manual_seed(seed)
                module = self.torch_module(dtype=dtype)
                drawn[seed] = module.state_dict(), torch.get_rng_state()
        if generators is not None:
            for seed in seeds:
                generator = torch.Generator()
                generator.set_state(drawn[int(seed)][1])
                generators.append(generator)
        rows = [drawn[int(seed)][0] for seed in seeds]
        return {name: torch.stack([row[name] for row in rows]).to(device)
                for name in rows[0]}

    def dropout_masks(self, generators, batch: int, *, dtype=torch.float64, device=None) -> list:
        """One mask per dropout layer, shape (N, batch, *features), already scaled by 1/(1 − p).

        Copy i's masks are drawn from ``generators[i]`` in layer order as ``nn.Dropout`` draws
        them in training mode on the CPU (``bernoulli_(1 − p)``, then ``div_(1 − p)``), so a plain
        script that seeded the global generator draws the same masks."""
        masks = []
        for layer in self.layers:
            if isinstance(layer, _Dropout):
                shape = (batch, *layer.shape)
                draws = [torch.empty(shape, dtype=dtype).bernoulli_(1 - layer.p, generator=g)
                         for g in generators]
                masks.append(torch.stack(draws).div_(1 - layer.p).to(device))
        return masks

    @property
    def has_dropout(self) -> bool:
        return any(isinstance(layer, _Dropout) for layer in self.layers)

    def _widest(self) -> int:
        """The most numbers one sample's activations take after any layer, per copy (what
        sizes an evaluation's chunks)."""
        shape, widest = (self.input_features,), 1
        for layer in self.layers:
            if isinstance(layer, _Linear):
                shape = (layer.fan_out,)
            elif isinstance(layer, _Conv):
                grow = 2 * layer.padding - layer.kernel + 1
                shape = (layer.c_out, shape[1] + grow, shape[2] + grow)
            elif isinstance(layer, _MaxPool):
                shape = (shape[0], shape[1] // layer.size, shape[2] // layer.size)
            elif isinstance(layer, _Reshape):
                shape = layer.shape
            widest = max(widest, math.prod(shape))
        return widest

    # -- the batched forward pass --------------------------------------------------------------
    def __call__(self, params: dict, x: torch.Tensor, masks: list | None = None) -> torch.Tensor:
        """Logits of shape (N, batch, classes) for inputs x of shape (N, batch, features), or
        (batch, features) for one batch that every copy sees (an evaluation). With ``masks``
        (from ``dropout_masks``) dropout is on (training); without, it is off (evaluation)."""
        n = next(iter(params.values())).shape[0]
        if x.ndim == 2:
            x = x.expand(n, *x.shape)  # a view: linear layers see the shared batch
        if x.ndim != 3 or x.shape[0] != n or x.shape[2] != self.input_features:
            raise ValueError(f"{self.name} takes inputs of shape (N={n}, batch, "
                             f"{self.input_features}) or (batch, {self.input_features}), got "
                             f"{tuple(x.shape)}")
        masks = iter(masks) if masks is not None else None
        in_place = not torch.is_grad_enabled()  # an evaluation keeps no graph
        fresh = False  # x was made by this pass (not the caller's input, nor a view of it)
        for index, layer in enumerate(self.layers):
            if isinstance(layer, _Dropout):
                if masks is not None:
                    x, fresh = x * next(masks), True
            elif isinstance(layer, _Activation) and in_place and fresh:
                x = layer.in_place(x)
            else:
                x = layer(params, str(index), x)
                fresh = fresh or not isinstance(layer, _Reshape)
        return x


# -- layers: each knows its nn.Module, its shape and its batched forward ---------------------------
class _Linear:
    def __init__(self, fan_in, fan_out):
        self.fan_in, self.fan_out = fan_in, fan_out

    def module(self, dtype):
        return torch.nn.Linear(self.fan_in, self.fan_out, dtype=dtype)

    def __call__(self, params, name, x):
        # The output is made as (N, fan_out, batch) in memory and returned as its transpose, a
        # view of shape (N, batch, fan_out): a softmax over the logits then runs along contiguous
        # samples (several times faster on a CPU than across 10 classes), and the next layer's
        # product takes the view as a transposed operand, without a copy.
        # The bias is added in place to the product (faster than baddbmm's copy of the
        # broadcast bias; autograd allows it, as bmm's gradient does not use its output).
        weight, bias = params[name + ".weight"], params[name + ".bias"]
        n, batch, _ = x.shape
        if x.stride(0) == 0:  # one batch for every copy: a single matrix product
            out = torch.mm(weight.reshape(n * self.fan_out, self.fan_in), x[0].T)
            out = out.view(n, self.fan_out, batch)
        else:
            out = torch.bmm(weight, x.transpose(1, 2))
        return out.add_(bias.unsqueeze(2)).transpose(1, 2)


class _Conv:
    def __init__(self, c_in, c_out, kernel, padding):
        self.c_in, self.c_out, self.kernel, self.padding = c_in, c_out, kernel, padding

    def module(self, dtype):
        return torch.nn.Conv2d(self.c_in, self.c_out, self.kernel, padding=self.padding, dtype=dtype)

    def __call__(self, params, name, x):
        weight, bias = params[name + ".weight"], params[name + ".bias"]
        n, batch, _, height, width = x.shape
        grouped = x.transpose(0, 1).reshape(batch, n * self.c_in, height, width)
        out = F.conv2d(grouped, weight.reshape(n * self.c_out, *weight.shape[2:]),
                       bias.reshape(-1), padding=self.padding, groups=n)
        return out.view(batch, n, self.c_out, *out.shape[2:]).transpose(0, 1)


class _MaxPool:
    def __init__(self, size):
        self.size = size

    def module(self, dtype):
        return torch.nn.MaxPool2d(self.size)

    def __call__(self, params, name, x):
        n, batch = x.shape[:2]
        out = F.max_pool2d(x.reshape(n * batch, *x.shape[2:]), self.size)
        return out.view(n, batch, *out.shape[1:])


class _Activation:
    def __init__(self, name):
        self.function, self.in_place, self.cls = _ACTIVATIONS[name]

    def module(self, dtype):
        return self.cls()

    def __call__(self, params, name, x):
        return self.function(x)


class _Dropout:
    def __init__(self, p, shape):
        self.p, self.shape = p, tuple(shape)

    def module(self, dtype):
        return torch.nn.Dropout(self.p)


class _Reshape:
    def __init__(self, shape):
        self.shape = tuple(shape)

    def module(self, dtype):
        return torch.nn.Unflatten(1, self.shape) if len(self.shape) > 1 else torch.nn.Flatten()

    def __call__(self, params, name, x):
        return x.reshape(*x.shape[:2], *self.shape)


# -- the three models the book trains -------------------------------------------------------------
def LogisticRegression(features: int, classes: int) -> Model:
    """Multinomial logistic regression: logits = W x + b (softmax cross-entropy is convex in W, b)."""
    features, classes = _size(features, "features"), _size(classes, "classes", 2)
    return Model(f"LogisticRegression({features}, {classes})", [_Linear(features, classes)],
                 features, classes)


def MLP(features: int, classes: int, hidden=(64,), *, activation: str = "relu",
        dropout: float = 0.0) -> Model:
    """A multilayer perceptron: (Linear, activation[, Dropout]) per hidden width, then Linear.
    Dropout (probability `dropout` of zeroing a unit) follows each hidden activation."""
    features, classes = _size(features, "features"), _size(classes, "classes", 2)
    if isinstance(hidden, numbers.Integral):
        hidden = (hidden,)
    hidden = tuple(_size(h, "hidden width") for h in hidden)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    dropout = _probability(dropout)
    layers, width = [], features
    for h in hidden:
        layers += [_Linear(width, h), _Activation(activation)]
        if dropout:
            layers.append(_Dropout(dropout, (h,)))
        width = h
    layers.append(_Linear(width, classes))
    tail = f", dropout={dropout}" if dropout else ""
    return Model(f"MLP({features}, {classes}, hidden={hidden}, activation={activation!r}{tail})",
                 layers, features, classes)


def CNN(classes: int = 10, channels=(8, 16), *, image_shape=(1, 8, 8)) -> Model:
    """A small convolutional network for 8×8 images: two blocks of 3×3 convolution (padding 1),
    ReLU and 2×2 max pooling, then a linear layer on the flattened maps."""
    classes = _size(classes, "classes", 2)
    if len(channels) != 2:
        raise ValueError(f"channels must be a pair (first, second), got {channels!r}")
    c1, c2 = (_size(c, "channels") for c in channels)
    if len(image_shape) != 3 or any(s < 1 for s in image_shape) \
            or image_shape[1] % 4 or image_shape[2] % 4:
        raise ValueError(f"image_shape must be (channels, height, width) with height and width "
                         f"divisible by 4 (two 2×2 poolings), got {image_shape!r}")
    c0, height, width = image_shape
    layers = [_Reshape(image_shape), _Conv(c0, c1, 3, 1), _Activation("relu"), _MaxPool(2),
              _Conv(c1, c2, 3, 1), _Activation("relu"), _MaxPool(2),
              _Reshape((c2 * (height // 4) * (width // 4),)),
              _Linear(c2 * (height // 4) * (width // 4), classes)]
    return Model(f"CNN({classes}, channels={(c1, c2)})", layers, c0 * height * width, classes)


def _size(value, name, low=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _probability(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    return float(p)


def _seeds(seeds) -> np.ndarray:
    array = np.atleast_1d(np.asarray(seeds))
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu" or (array < 0).any():
        raise ValueError(f"seeds must be a non-empty 1-D sequence of integers >= 0, got {seeds!r}")
    return array


def _check_dtype(dtype):
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float64, "
                        f"got {dtype!r}")
