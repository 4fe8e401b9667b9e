"""Repository-wide pytest configuration (package tests and notebooks alike).

nbval executes notebook cells as Jupyter does, with one exception this file removes:
nbval 0.11 sends every cell with ``store_history=False``, and IPython decides whether a trailing
``;`` silences a cell's result by looking at the last cell of its history. Under plain nbval a
cell ending in ``plot.curves(...);`` therefore returns an ``<Axes ...>`` result that the stored
notebook (made by Jupyter, or by the book build, both with history) does not have, and strict
nbval fails. Upstream: computationalmodelling/nbval#194, ipython/ipython#14162.

The test command runs on two workers (pytest-xdist, ``--dist loadscope``): a scope is a test
module or a notebook, so a notebook's cells, one kernel's history, run in order in one process.
(``loadgroup`` would split notebooks: with pytest 9 xdist 3.8 can no longer rename node ids.)
``--no-loadscope-reorder`` keeps collection order, so the longest scopes, the Colab runtime's
chapters (tests/test_colab_runtime.py, one class, hence one scope, per chapter, so that both
workers share them), start early instead of last.
"""

from __future__ import annotations

try:
    from nbval.kernel import RunningKernel
except ImportError:  # nbval absent: nothing to adjust
    RunningKernel = None


if RunningKernel is not None:

    def _execute_cell_input(self, cell_input, allow_stdin=None):
        """nbval's RunningKernel.execute_cell_input, with the history Jupyter keeps."""
        return self.kc.execute(
            cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False
        )

    RunningKernel.execute_cell_input = _execute_cell_input
