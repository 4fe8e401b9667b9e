"""A list of tensors that the update rules can run on as if it were one tensor.

The torch path's ``impl="foreach"`` hands a rule, instead of one parameter's tensors, a
``TensorList`` of the (flattened) parameters of a group, one of their gradients and one per state
entry. The rule's lines do not change: its operators and the ``_ops`` helpers it calls map to
``torch._foreach_*`` kernels (``torch._foreach_lerp_`` for ``ema_``, ``torch._foreach_addcdiv_``
for ``add_ratio_``, ...), the multi-tensor kernels torch.optim's own ``foreach=True`` path calls.
Each one applies the single-tensor operation to every tensor of the list (on CUDA in one launch
for many tensors; on the CPU in one C++ loop), so a rule costs one Python call per operation for
the whole group instead of one per operation and parameter, and computes what the single-tensor
path computes: the same operations in the same order.

A rule that reduces over a parameter (FAdam's RMS, the cautious mask's count) keeps the
reduction per tensor: ``sum`` gives one length-1 tensor per parameter (a list flagged
``reduced``), and operations between a list and a reduced list broadcast tensor by tensor.

This module does not import torch; its methods run only once torch has made the tensors.
"""

from __future__ import annotations

import numbers
import operator
import sys

# the Python operator for each foreach kernel name: where a list meets a reduced list or a list
# of numbers, the operation runs tensor by tensor with the operator the single-tensor rule uses
# (torch's `number / tensor` is reciprocal(tensor) · number, not a division)
_OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
              "div": operator.truediv, "pow": operator.pow}


def _torch():
    return sys.modules["torch"]


class TensorList:
    """The tensors of a group, all of one dtype and device, treated as one operand."""

    __slots__ = ("tensors", "reduced")
    __array_priority__ = 1000  # NumPy scalars on the left defer to our reflected operators

    def __init__(self, tensors, reduced: bool = False):
        self.tensors = list(tensors)
        self.reduced = reduced

    # -- what the rules and _ops read -------------------------------------------------------------
    def __len__(self):
        return len(self.tensors)

    def __iter__(self):
        return iter(self.tensors)

    def __getitem__(self, i):
        return self.tensors[i]

    @property
    def dtype(self):
        return self.tensors[0].dtype

    @property
    def ndim(self) -> int:
        """The rules see flattened tensors: one axis each (``run_axes`` then reduces over it)."""
        return 1

    @property
    def sizes(self) -> list:
        return [t.numel() for t in self.tensors]

    def __repr__(self) -> str:
        return f"TensorList({len(self.tensors)} tensors{', reduced' if self.reduced else ''})"

    # -- arithmetic ------------------------------------------------------------------------------
    def _binary(self, other, name, reflected=False):
        torch = _torch()
        if isinstance(other, TensorList):
            if other.reduced != self.reduced:  # per-tensor broadcasting: one op per tensor
                pairs = zip(other.tensors, self.tensors) if reflected else \
                    zip(self.tensors, other.tensors)
                return TensorList([_OPERATORS[name](a, b) for a, b in pairs],
                                  self.reduced and other.reduced)
            operands = (other.tensors, self.tensors) if reflected else (self.tensors, other.tensors)
            return TensorList(getattr(torch, f"_foreach_{name}")(*operands), self.reduced)
        if isinstance(other, list):  # one number per tensor (run_size)
            if reflected:
                return TensorList([_OPERATORS[name](o, t) for o, t in zip(other, self.tensors)],
                                  self.reduced)
            return TensorList(getattr(torch, f"_foreach_{name}")(self.tensors, other), self.reduced)
        if isinstance(other, (numbers.Number, torch.Tensor)) or hasattr(other, "__float__"):
            if reflected:
                return self._reflected_scalar(other, name)
            if not isinstance(other, torch.Tensor):
                other = _number(other)
            return TensorList(getattr(torch, f"_foreach_{name}")(self.tensors, other), self.reduced)
        return NotImplemented

    def _reflected_scalar(self, other, name):
        torch = _torch()
        if not isinstance(other, torch.Tensor):
            other = _number(other)
        if name in ("add", "mul"):  # commutative: the same kernel and the same bits
            return TensorList(getattr(torch, f"_foreach_{name}")(self.tensors, other), self.reduced)
        if name == "div":  # torch's `number / tensor` is reciprocal(tensor) * number
            return TensorList(torch._foreach_mul(torch._foreach_reciprocal(self.tensors), other),
                              self.reduced)
        if name == "sub":  # number − t, as torch's rsub: −t + number
            return TensorList(torch._foreach_add(torch._foreach_neg(self.tensors), other),
                              self.reduced)
        if name == "pow":
            return TensorList(torch._foreach_pow(other, self.tensors), self.reduced)
        raise TypeError(f"unsupported: number {name} TensorList")

    def _inplace(self, other, name):
        torch = _torch()
        if isinstance(other, TensorList) and other.reduced != self.reduced:
            for a, b in zip(self.tensors, other.tensors):
                getattr(a, f"{name}_")(b)
            return self
        if isinstance(other, TensorList):
            other = other.tensors
        elif not isinstance(other, (list, torch.Tensor)):
            other = _number(other)
        getattr(torch, f"_foreach_{name}_")(self.tensors, other)
        return self

    def __add__(self, other):
        return self._binary(other, "add")

    def __radd__(self, other):
        return self._binary(other, "add", reflected=True)

    def __sub__(self, other):
        return self._binary(other, "sub")

    def __rsub__(self, other):
        return self._binary(other, "sub", reflected=True)

    def __mul__(self, other):
        return self._binary(other, "mul")

    def __rmul__(self, other):
        return self._binary(other, "mul", reflected=True)

    def __truediv__(self, other):
        return self._binary(other, "div")

    def __rtruediv__(self, other):
        return self._binary(other, "div", reflected=True)

    def __pow__(self, other):
        return self._binary(other, "pow")

    def __rpow__(self, other):
        return self._binary(other, "pow", reflected=True)

    def __neg__(self):
        return TensorList(_torch()._foreach_neg(self.tensors), self.reduced)

    def __iadd__(self, other):
        return self._inplace(other, "add")

    def __isub__(self, other):
        return self._inplace(other, "sub")

    def __imul__(self, other):
        return self._inplace(other, "mul")

    def __itruediv__(self, other):
        return self._inplace(other, "div")

    def __lt__(self, other):
        return TensorList([t < other for t in self.tensors], self.reduced)

    def __gt__(self, other):
        return TensorList([t > other for t in self.tensors], self.reduced)

    # -- the tensor methods the _ops helpers call --------------------------------------------------
    def add_(self, other, alpha=1):
        torch = _torch()
        if isinstance(other, TensorList):
            torch._foreach_add_(self.tensors, other.tensors, alpha=alpha)
        else:
            torch._foreach_add_(self.tensors, other)
        return self

    def mul_(self, other):
        return self._inplace(other, "mul")

    def addcmul_(self, tensor1, tensor2, value=1):
        torch = _torch()
        if isinstance(tensor2, TensorList):
            torch._foreach_addcmul_(self.tensors, tensor1.tensors, tensor2.tensors, value)
        else:  # a tensor factor (addcmul_(y, scale)): x + y·scale, tensor by tensor
            for x, y in zip(self.tensors, tensor1.tensors):
                x.addcmul_(y, tensor2, value=value)
        return self

    def addcdiv_(self, tensor1, tensor2, value=1):
        _torch()._foreach_addcdiv_(self.tensors, tensor1.tensors, tensor2.tensors, value)
        return self

    def lerp_(self, end, weight):
        _torch()._foreach_lerp_(self.tensors, end.tensors, weight)
        return self

    def sqrt(self):
        return TensorList(_torch()._foreach_sqrt(self.tensors), self.reduced)

    def abs(self):
        return TensorList(_torch()._foreach_abs(self.tensors), self.reduced)

    def clone(self):
        return TensorList([t.clone() for t in self.tensors], self.reduced)

    def copy_(self, other):
        _torch()._foreach_copy_(self.tensors, other.tensors)
        return self

    def clamp_(self, low, high):
        torch = _torch()
        torch._foreach_clamp_min_(self.tensors, low)
        torch._foreach_clamp_max_(self.tensors, high)
        return self

    def clamp_min(self, low):
        return TensorList(_torch()._foreach_clamp_min(self.tensors, low), self.reduced)

    def maximum_(self, other):
        _torch()._foreach_maximum_(self.tensors, other.tensors)
        return self

    def minimum_(self, other):
        _torch()._foreach_minimum_(self.tensors, other.tensors)
        return self

    def zeros_like(self):
        return TensorList([t.new_zeros(t.shape) for t in self.tensors], self.reduced)

    def full_like(self, value):
        return TensorList([t.new_full(t.shape, float(value)) for t in self.tensors], self.reduced)

    def sum(self, dim=None, keepdim=False):
        """One sum per tensor (over its whole, flattened, length): a reduced list."""
        return TensorList([t.sum(dim=dim, keepdim=True) for t in self.tensors], reduced=True)

    def to(self, dtype):
        return TensorList([t.to(dtype) for t in self.tensors], self.reduced)


def _number(value):
    """A Python number for torch's scalar overloads (a NumPy float would be a tensor there)."""
    return value if isinstance(value, (bool, int, float)) else float(value)
