"""The shape every chapter promises its reader, checked on the stored notebooks.

nbval checks that stored outputs reproduce; these tests check what nbval cannot see: that the
outputs were made top to bottom in one kernel, that the derivations carry SymPy cells that
assert (a cell that only displays checks nothing), that the text cites its sources, and that
the exercises come with solutions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_colab_cell import ROOT, toc_files

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
# the order of the lineage, which the table of contents must follow
LINEAGE = ["gradient_descent", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw_amsgrad",
           "optimizers_at_work", "schedules", "warmup", "nadam_radam", "adabound_adamod",
           "fadam_cautious", "comparison"]


def cells(path: Path, kind: str) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == kind]


def test_the_table_of_contents_follows_the_lineage():
    chapters = [Path(f).name for f in toc_files() if f.startswith("chapters/")]
    assert [re.sub(r"^\d\d_|\.ipynb$", "", c) for c in chapters] == LINEAGE
    assert [p.stem for p in CHAPTERS] == [Path(c).stem for c in chapters]


# every page the site shows from its stored outputs (chapters and appendix pages)
PAGES = CHAPTERS + sorted((ROOT / "appendix").glob("*.ipynb"))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_outputs_were_made_top_to_bottom_in_one_kernel(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    counts = [c["execution_count"] for c in notebook["cells"]
              if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1))
    # text outputs only: a PNG's base64 may contain any short string by chance
    text = json.dumps([{k: v for k, v in out.items() if k != "data"} |
                       {"data": {m: d for m, d in out.get("data", {}).items()
                                 if not m.startswith("image/")}}
                       for c in notebook["cells"] if c["cell_type"] == "code"
                       for out in c.get("outputs", [])])
    for unstable in ("0x7f", "/tmp/ipykernel_", "Wall time", "CPU times"):
        assert unstable not in text


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_derivations_are_checked_by_sympy_cells_that_assert(path):
    checking = [c for c in cells(path, "code")
                if re.search(r"\bsp\.|sympy", c) and re.search(r"^\s*assert\b", c, re.M)]
    assert len(checking) >= 2


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_sources_are_cited_and_exercises_have_solutions(path):
    text = "\n".join(cells(path, "markdown"))
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = {k.strip() for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text)
            for k in group.split(",")}
    assert keys, "a chapter cites its sources"
    assert all(re.search(r"@\w+\{" + re.escape(k) + ",", bib) for k in keys), keys
    exercises = re.findall(r"\{exercise\}[^\n]*\n:label: (\S+)", text)
    solutions = re.findall(r"\{solution\} (\S+)", text)
    assert len(exercises) >= 2 and sorted(exercises) == sorted(solutions)
