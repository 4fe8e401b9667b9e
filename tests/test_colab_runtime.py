"""Every chapter runs as a reader on Google Colab runs it.

A reader who opens a chapter on Colab gets a runtime with Colab's packages and no optlab; the
chapter's first cell then installs optlab from the book's repository at the tag ``v<version>``
(tests/test_colab_cell.py checks that the cell is there). This test does the same, offline:

1. clone this checkout's HEAD into a temporary folder and tag it ``v<version>`` (pyproject.toml),
   as publishing would;
2. take a simulated Colab runtime (tests/colab_runtime.py: a venv with only numpy, torch,
   matplotlib, sympy, scikit-learn and ipykernel, no optlab), a fresh layer of it per chapter;
3. copy each chapter to a folder outside the repository and the clone, point its first cell's
   URL at ``git+file://<clone>@v<version>``, and execute it top to bottom in that runtime's kernel;
4. assert that no cell fails, that optlab was installed by the first cell from the tag (into the
   runtime's site-packages, with pip's record naming the clone, the tag and its commit), and that
   every other cell's text outputs equal the stored ones, compared as nbval strict compares them
   (sanitize.cfg applied; images are not compared).

It checks what is committed (HEAD), i.e. what a tag made now would publish; uncommitted changes
are ignored, with a warning naming them. test_chapters_import_only_what_a_colab_install_provides
checks the working tree's chapters and src/optlab statically, without a runtime.

The runtime's base is built once (about 10 s: see tests/colab_runtime.py) and cached under ~/.cache/optlab/colab-runtime
(or $OPTLAB_COLAB_CACHE), keyed on a hash of its inputs; everything else lives in a temporary
folder that is removed at the end.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import warnings
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

import colab_runtime as rt
from test_colab_cell import chapter_notebooks, colab_cell_source, toc_entries

ROOT = rt.ROOT
GIT = shutil.which("git")
PROBE_TAG = "colab-runtime-probe:"
# Appended to each executed copy (never compared with anything stored): where optlab came from.
PROBE_SOURCE = f"""\
import importlib.metadata, json, sys
import optlab
_dist = importlib.metadata.distribution("optlab")
print({PROBE_TAG!r} + json.dumps({{
    "file": optlab.__file__, "prefix": sys.prefix, "version": _dist.version,
    "__version__": getattr(optlab, "__version__", None),
    "direct_url": json.loads(_dist.read_text("direct_url.json") or "null")}}))"""

# What nbval strict leaves out of the comparison (nbval 0.11, IPyNbFile.skip_compare).
SKIP_COMPARE = frozenset({"metadata", "traceback", "prompt_number", "output_type", "name",
                          "execution_count", "application/vnd.jupyter.widget-view+json",
                          "image/png", "image/jpeg"})
CELL_TIMEOUT_S = 300  # as _config.yml's execute.timeout


def _git(*args: str, cwd: Path = ROOT) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} (in {cwd}) failed: {proc.stderr.strip()}")
    return proc.stdout


def _head_chapters() -> list[str]:
    """The chapter notebooks committed at HEAD: chapters/*.ipynb and the notebooks in _toc.yml."""
    files = set(_git("ls-tree", "-r", "--name-only", "HEAD").splitlines())
    chapters = {f for f in files if re.fullmatch(r"chapters/[^/]+\.ipynb", f)}
    if "_toc.yml" in files:
        entries = toc_entries(yaml.safe_load(_git("show", "HEAD:_toc.yml")) or {})
        chapters |= {e if e.endswith(".ipynb") else e + ".ipynb" for e in entries
                     if (e if e.endswith(".ipynb") else e + ".ipynb") in files}
    return sorted(chapters)


def _collect() -> list:
    if GIT is None:
        return [pytest.param("", marks=pytest.mark.skip(
            reason="git is not installed: the Colab runtime test clones and tags the repository"))]
    try:
        chapters = _head_chapters()
    except RuntimeError as err:
        return [pytest.param(f"<no chapters: {err}>", id="no-git-head")]
    return chapters or [pytest.param("<no chapter committed at HEAD>", id="no-chapters")]


CHAPTERS = _collect()


@pytest.fixture(scope="module")
def published():
    """HEAD cloned and tagged v<version> in a temporary folder, and the cached base runtime."""
    if GIT is None:
        pytest.skip("git is not installed")
    from nbval.plugin import get_sanitize_patterns

    dirty = _git("--no-optional-locks", "status", "--porcelain").splitlines()  # writes nothing
    if dirty:
        warnings.warn("test_colab_runtime runs the chapters and optlab as committed at HEAD; "
                      "these uncommitted changes are not part of it: "
                      + ", ".join(line[3:] for line in dirty), stacklevel=1)
    tmp = Path(tempfile.mkdtemp(prefix="optlab-colab-"))
    try:
        with contextlib.ExitStack() as stack:
            clone = tmp / "optlab"
            _git("clone", "--quiet", str(ROOT), str(clone))
            url = yaml.safe_load((clone / "_config.yml").read_text(encoding="utf-8")
                                 )["repository"]["url"].rstrip("/")
            version = tomllib.loads((clone / "pyproject.toml").read_text(encoding="utf-8")
                                    )["project"]["version"]
            tag = f"v{version}"
            head = _git("rev-parse", "HEAD", cwd=clone).strip()
            if _git("tag", "--list", tag, cwd=clone).strip():
                tagged = _git("rev-parse", f"{tag}^{{commit}}", cwd=clone).strip()
                if tagged != head:
                    warnings.warn(f"tag {tag} already exists at {tagged[:12]}, not at HEAD "
                                  f"{head[:12]}: Colab readers of this HEAD would get {tag}'s "
                                  "code. Bump the version in pyproject.toml before publishing. "
                                  f"This test moves {tag} to HEAD in its clone.", stacklevel=1)
            _git("-c", "advice.detachedHead=false", "tag", "-f", tag, "HEAD", cwd=clone)
            sha = _git("rev-parse", f"{tag}^{{commit}}", cwd=clone).strip()
            constraints = clone / "constraints.txt"
            if not constraints.is_file():
                pytest.fail("constraints.txt is missing at HEAD: the Colab runtime's versions "
                            "come from it")
            sanitize = clone / "sanitize.cfg"
            patterns = (get_sanitize_patterns(sanitize.read_text(encoding="utf-8"))
                        if sanitize.is_file() else [])
            t0 = time.monotonic()
            base = stack.enter_context(rt.base_runtime(constraints))
            print(f"[colab runtime] base {base} ready in {time.monotonic() - t0:.1f} s")
            yield SimpleNamespace(tmp=tmp, clone=clone, url=url, version=version, tag=tag,
                                  sha=sha, base=base, patterns=patterns)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _comparable(outputs, patterns) -> dict[str, list]:
    """Outputs flattened as nbval strict compares them: streams coalesced, then key -> values."""
    from nbval.plugin import coalesce_streams, transform_streams_for_comparison

    def sanitize(value):
        if isinstance(value, str):
            for regex, replace in patterns:
                value = re.sub(regex, replace, value)
        return value

    flat: dict[str, list] = defaultdict(list)
    for out in transform_streams_for_comparison(coalesce_streams(copy.deepcopy(outputs))):
        for key, value in out.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(sanitize(data))
            else:
                flat[key].append(sanitize(value))
    return dict(flat)


def _kernel_manager(runtime: Path, where: Path):
    """A kernel manager whose "python3" kernel is the runtime's Python (and nothing else's)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = where / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        # log_level=ERROR only quiets the kernel's own log on the terminal (ipykernel 7 warns
        # that it talks TCP to 127.0.0.1); cells' outputs are unaffected.
        "argv": [str(rt.python_of(runtime)), "-m", "ipykernel_launcher", "-f",
                 "{connection_file}", "--IPKernelApp.log_level=ERROR"],
        "display_name": "Python 3 (simulated Colab)", "language": "python"}))
    return AsyncKernelManager(kernel_name="python3",
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(where)]))


def _text(outputs) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        else:
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts).strip() or "(no output)"


def _duration(cell) -> float:
    """Seconds a cell ran, from the timing nbclient records in its metadata (nan if none)."""
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    try:
        return (datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                - datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
                ).total_seconds()
    except (KeyError, ValueError):
        return float("nan")


def _first_line(source: str) -> str:
    return next((line for line in source.splitlines() if line.strip()), "")[:90]


def _run_chapter(published, chapter: str) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if chapter.startswith("<"):
        pytest.fail(f"cannot list the chapters to run: {chapter[1:-1]}")
    t0 = time.monotonic()
    p = published
    stem = Path(chapter).stem
    work = p.tmp / "work" / stem  # a reader's Colab session: the notebook alone
    work.mkdir(parents=True)
    notebook = work / Path(chapter).name
    shutil.copyfile(p.clone / chapter, notebook)
    nb = nbformat.read(notebook, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]

    expected = colab_cell_source(url=p.url, ref=p.tag)
    if not code or code[0].source.strip() != expected:
        pytest.fail(f"{chapter}: the first code cell is not the Colab cell (see "
                    f"tests/test_colab_cell.py); expected:\n{expected}")
    published_url = f"git+{p.url}.git@{p.tag}"
    local_url = f"git+file://{p.clone}@{p.tag}"
    assert code[0].source.count(published_url) == 1, code[0].source
    code[0].source = code[0].source.replace(published_url, local_url)
    for cell in code[1:]:
        if re.search(r"pip\s+install[^\n]*optlab", cell.source):
            pytest.fail(f"{chapter}: a cell other than the first installs optlab:\n{cell.source}")
    stored = [copy.deepcopy(cell.outputs) for cell in code]
    nb.cells.append(nbformat.v4.new_code_cell(PROBE_SOURCE))

    runtime = rt.fresh_runtime(p.base, p.tmp / "runtimes" / stem)
    env = rt.clean_env(
        runtime,
        PYTHONHASHSEED="0",  # as scripts/execute.sh made the stored outputs
        MPLCONFIGDIR=str(p.base / "mplconfig"),  # font cache built, as on Colab
        IPYTHONDIR=str(p.tmp / "ipython" / stem),  # no profile or startup file of this machine
        JUPYTER_CONFIG_DIR=str(p.tmp / "jupyter-config" / stem),
        JUPYTER_DATA_DIR=str(p.tmp / "jupyter-data" / stem),
    )
    Path(env["IPYTHONDIR"]).mkdir(parents=True)
    before = subprocess.run([str(rt.python_of(runtime)), "-c", "import optlab"], cwd=work, env=env,
                            capture_output=True, text=True)
    assert before.returncode != 0 and "No module named 'optlab'" in before.stderr, (
        f"the fresh runtime can import optlab before the chapter runs:\n{before.stderr}")

    client = NotebookClient(nb, km=_kernel_manager(runtime, p.tmp / "kernels" / stem),
                            timeout=CELL_TIMEOUT_S, allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    try:
        client.execute(env=env, cwd=str(work), cleanup_kc=True)
    except CellExecutionError as err:
        hint = ""
        if err.ename == "ModuleNotFoundError" and "'optlab'" in err.evalue:
            hint = ("\nThe first cell did not install optlab: see pip's messages in its output "
                    "below (the clone is tagged " + p.tag + ").")
        elif err.ename == "ModuleNotFoundError":
            hint = ("\nThe simulated Colab runtime has only "
                    f"{', '.join(rt.COLAB_PACKAGES + rt.KERNEL_PACKAGES)} (and what they depend "
                    "on) plus what optlab's pyproject.toml dependencies bring: declare the "
                    "missing package in pyproject.toml's [project] dependencies (the Colab cell "
                    "installs them), or, if Colab ships it, add it to COLAB_PACKAGES in "
                    "tests/colab_runtime.py.")
        message = (f"{chapter} fails on a fresh Colab runtime: {err.ename}: {err.evalue}{hint}\n"
                   f"output of the first (install) cell:\n{_text(code[0].outputs)}\n\n{err}")
        pytest.fail(re.sub(r"\x1b\[[0-9;]*m", "", message), pytrace=False)  # no terminal colours
    finally:
        print(f"[colab runtime] {chapter}: {time.monotonic() - t0:.1f} s, of which the install "
              f"cell {_duration(code[0]):.1f} s")

    # optlab came from the first cell's install, from the tag, into the runtime.
    probe = [line for line in _text(nb.cells[-1].outputs).splitlines()
             if line.startswith(PROBE_TAG)]
    assert len(probe) == 1, _text(nb.cells[-1].outputs)
    got = json.loads(probe[0][len(PROBE_TAG):])
    origin = Path(got["file"]).resolve()
    site = rt.site_packages(runtime).resolve()
    assert origin.is_relative_to(site), (
        f"optlab was imported from {origin}, not from the runtime's site-packages {site}")
    for elsewhere in (ROOT, p.clone, p.base):
        assert not origin.is_relative_to(elsewhere.resolve()), (origin, elsewhere)
    assert Path(got["prefix"]).resolve() == runtime.resolve(), got["prefix"]
    assert got["version"] == p.version, got["version"]
    assert got["__version__"] == p.version, (
        f"optlab.__version__ is {got['__version__']!r} but pyproject.toml's version is "
        f"{p.version!r}: bump both (src/optlab/__init__.py and pyproject.toml)")
    direct = got["direct_url"] or {}
    vcs = direct.get("vcs_info", {})
    assert (direct.get("url"), vcs.get("vcs"), vcs.get("requested_revision"),
            vcs.get("commit_id")) == (f"file://{p.clone}", "git", p.tag, p.sha), (
        f"pip's record of the install is not the clone at {p.tag} ({p.sha}): {direct}")

    # Every other cell shows what the book shows, but for a chapter's own install cell (its
    # reference packages): there pip speaks on Colab, and nothing is installed locally.
    differ = []
    for index, (cell, want) in enumerate(zip(code[1:], stored[1:]), start=2):
        if re.search(r"^\s*%pip\s+install\b", cell.source, re.M):
            continue
        want_flat = _comparable(want, p.patterns)
        got_flat = _comparable(cell.outputs, p.patterns)
        if want_flat != got_flat:
            differ.append(f"--- code cell {index} (id {cell.get('id')}): "
                          f"{_first_line(cell.source)}\n"
                          f"stored:\n{json.dumps(want_flat, indent=1, ensure_ascii=False)[:3000]}\n"
                          f"on Colab:\n{json.dumps(got_flat, indent=1, ensure_ascii=False)[:3000]}")
    if differ:
        pytest.fail(f"{chapter}: {len(differ)} cell(s) show other outputs on a fresh Colab runtime "
                    "than the stored ones:\n" + "\n".join(differ), pytrace=False)
    shutil.rmtree(runtime, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


def _chapter_class(chapter: str) -> type:
    """A test class for one chapter. pytest-xdist's loadscope schedules a class as one unit, so
    the chapters, the longest tests of the suite, go to whichever worker is free instead of
    queueing on the one worker that took the module (the whole suite's tail, before)."""

    def test_chapter_runs_on_a_fresh_colab_runtime(self, published) -> None:
        _run_chapter(published, chapter)

    name = "TestColab_" + re.sub(r"\W", "_", Path(chapter).stem)
    return type(name, (), {"__doc__": f"{chapter} on a fresh simulated Colab runtime.",
                           "test_chapter_runs_on_a_fresh_colab_runtime":
                               test_chapter_runs_on_a_fresh_colab_runtime})


for _chapter in CHAPTERS:
    if isinstance(_chapter, str):  # a chapter's path (the other entries say why there are none)
        globals()[_chapter_class(_chapter).__name__] = _chapter_class(_chapter)
_NONE = [c for c in CHAPTERS if not isinstance(c, str)]
if _NONE:
    @pytest.mark.parametrize("chapter", _NONE)
    def test_chapter_runs_on_a_fresh_colab_runtime(published, chapter: str) -> None:
        _run_chapter(published, chapter)


# --------------------------------------------------------------------------------------------
# Static: what the book's code imports is there after the Colab cell, on the Colab runtime.

def _import_names_of(requirement: str) -> set[str]:
    """Top-level modules of an installed distribution (its normalized name if not installed)."""
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    name = canonicalize_name(Requirement(requirement).name)
    modules = {module for module, dists in importlib.metadata.packages_distributions().items()
               if name in {canonicalize_name(d) for d in dists}}
    return modules or {name.replace("-", "_")}


def _imports(source: str) -> set[str]:
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _pip_installed(source: str) -> set[str]:
    """Import names of what a cell installs with %pip install (a chapter's own reference
    packages, pinned there as in requirements.txt; options and URLs' extras are skipped)."""
    import shlex

    from packaging.requirements import InvalidRequirement, Requirement

    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run_line_magic"
                and len(node.args) == 2 and all(isinstance(a, ast.Constant) for a in node.args)
                and node.args[0].value == "pip"):
            words = shlex.split(node.args[1].value)
            if words[:1] == ["install"]:
                for word in words[1:]:
                    if word.startswith("-"):
                        continue
                    try:
                        names |= _import_names_of(str(Requirement(word)))
                    except InvalidRequirement:
                        continue
    return names


def test_chapters_import_only_what_a_colab_install_provides() -> None:
    """The runtime test cannot see a chapter importing a package that one of the runtime's
    packages happens to bring (scipy comes with scikit-learn, jinja2 with torch); this one can.

    On Colab, what a chapter or optlab may import is: the standard library, optlab, what
    pyproject.toml's [project] dependencies install (the Colab cell installs no extras), what
    Colab ships that the simulated runtime holds (COLAB_IMPORTS), and what the chapter itself
    installs with a %pip install cell (the reference packages a chapter compares optlab with).
    """
    from IPython.core.inputtransformer2 import TransformerManager

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared: set[str] = set()
    for requirement in project.get("dependencies", []):
        declared |= _import_names_of(requirement)
    allowed = set(sys.stdlib_module_names) | {"optlab"} | declared | rt.COLAB_IMPORTS

    sources: dict[str, str] = {}
    own_installs: dict[str, set[str]] = {}  # where -> what its chapter %pip-installs itself
    transform = TransformerManager().transform_cell  # %pip, !cmd -> plain Python
    for notebook in chapter_notebooks():
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = {f"{notebook.relative_to(ROOT)} cell {i} (id {cell.get('id')})":
                transform(cell["source"] if isinstance(cell["source"], str)
                          else "".join(cell["source"]))
                for i, cell in enumerate(cells) if cell["cell_type"] == "code"}
        installed = set().union(*(_pip_installed(source) for source in code.values()))
        sources.update(code)
        own_installs.update(dict.fromkeys(code, installed))
    for module in sorted((ROOT / "src" / "optlab").rglob("*.py")):
        sources[str(module.relative_to(ROOT))] = module.read_text(encoding="utf-8")
    assert sources, "no chapter and no optlab module found"

    missing = {}
    for where, source in sources.items():
        extra = _imports(source) - allowed - own_installs.get(where, set())
        if extra:
            missing[where] = sorted(extra)
    if missing:
        pytest.fail(
            "imports that a reader on Colab may not have after the Colab cell (neither the "
            f"standard library, optlab, pyproject.toml's dependencies {sorted(declared)} nor what "
            f"the simulated Colab runtime ships {sorted(rt.COLAB_IMPORTS)}):\n"
            + "\n".join(f"  {where}: {names}" for where, names in missing.items())
            + "\nDeclare them in pyproject.toml's [project] dependencies, or add them to "
            "tests/colab_runtime.py's COLAB_PACKAGES/COLAB_IMPORTS if Colab ships them.",
            pytrace=False)
