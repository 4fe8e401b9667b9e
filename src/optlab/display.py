r"""What a chapter shows of optlab's own text: the algorithm box of an update rule.

Each rule's docstring carries its algorithm box (a ``.. math::`` block, torch.optim's convention).
A chapter displays the box *from* the docstring, so the box the reader sees and the docstring of
the code that runs are one text and cannot drift apart; there is nothing to compare.
"""

from __future__ import annotations

import inspect
import textwrap


def algorithm_box_latex(rule) -> str:
    r"""The LaTeX of `rule`'s algorithm box: the body of the first ``.. math::`` block of its
    docstring. Raises ValueError when the docstring has none."""
    doc = inspect.getdoc(rule) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == ".. math::")
    except StopIteration:
        raise ValueError(f"{getattr(rule, '__qualname__', rule)!r} has no '.. math::' block in "
                         "its docstring") from None
    body = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith((" ", "\t")):
            break  # the block ends at the first line back at the docstring's margin
        body.append(line)
    latex = textwrap.dedent("\n".join(body)).strip()
    if not latex:
        raise ValueError(f"the '.. math::' block of {rule.__qualname__} is empty")
    return latex


def algorithm_box(rule):
    """`rule`'s algorithm box as displayed math (``IPython.display.Math``), for a chapter cell."""
    from IPython.display import Math

    return Math(algorithm_box_latex(rule))
