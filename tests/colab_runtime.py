"""A simulated Google Colab runtime for tests/test_colab_runtime.py.

The runtime is a virtual environment holding only what Colab ships that the book uses (numpy,
torch, matplotlib, sympy, scikit-learn) and the Jupyter kernel (ipykernel), at the versions of
constraints.txt where it lists them; never optlab. Those are the versions the project's own
environment has installed, so the runtime links their files from it (about 10 s) rather than
installing them again with pip (about 2 minutes for torch; still done when a version differs).
It is kept between runs in a cache folder, one per hash of its inputs, and never written to after
it is built: each chapter runs in its own *fresh* environment layered on top of it (a new venv
whose site-packages points at the base's with a .pth file), so what a chapter installs (optlab,
by its first cell) lands in that throw-away layer, as on a new Colab runtime.

The notebooks are driven from the test process (nbclient, nbformat and nbval's output comparison
come from the project's .venv); only the kernel runs inside the simulated runtime.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What Colab ships that the book uses. Colab ships much more; the simulated runtime gets only
# these (and what they depend on), so that a chapter needing anything else fails here.
# torch is pinned here, as in requirements.txt: that release's CPU wheel (an unpinned torch pulls
# gigabytes of CUDA packages); constraints.txt pins the others where it lists them.
COLAB_PACKAGES = ("numpy", "torch==2.13.0", "matplotlib", "sympy", "scikit-learn")
KERNEL_PACKAGES = ("ipykernel",)
# Their import names, plus IPython (the kernel itself, present on every Colab runtime).
COLAB_IMPORTS = frozenset({"numpy", "torch", "matplotlib", "sympy", "sklearn", "IPython"})

# Bump when the recipe below changes in a way the hashed inputs do not show.
RECIPE = "2"  # 2: the base links the project environment's files when it can

# Variables passed from the caller's environment into the runtime: identity, locale, and how this
# machine reaches the package index (pip builds optlab in an isolated environment, which needs
# setuptools from the index, as on Colab). Everything else (PYTHONPATH, VIRTUAL_ENV, MPLBACKEND,
# GIT_DIR, ...) is dropped: a reader's Colab runtime has none of the project's settings.
_PASS_ENV = {"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "SSL_CERT_FILE",
             "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}


def cache_root() -> Path:
    if os.environ.get("OPTLAB_COLAB_CACHE"):
        return Path(os.environ["OPTLAB_COLAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "optlab" / "colab-runtime"


def site_packages(venv: Path) -> Path:
    """The purelib folder of a venv made by this interpreter (same Python version)."""
    return Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """The environment of a process in the simulated runtime `venv`."""
    env = {k: v for k, v in os.environ.items()
           if k in _PASS_ENV or k.startswith("PIP_") or k.lower().endswith("_proxy")}
    inside = [str(ROOT)] + ([os.environ["VIRTUAL_ENV"]] if os.environ.get("VIRTUAL_ENV") else [])
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if p and not any(Path(p).resolve().is_relative_to(Path(d).resolve()) for d in inside)]
    env["PATH"] = os.pathsep.join([str(venv / "bin")] + path)
    env.update(extra)
    return env


def _run(cmd: list, *, what: str, timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
                           f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n"
                           f"{proc.stderr[-4000:]}")
    return proc


def _inputs_hash(constraints: Path) -> str:
    h = hashlib.sha256()
    for part in (RECIPE, sys.version, os.path.realpath(sys.executable), *COLAB_PACKAGES,
                 *KERNEL_PACKAGES):
        h.update(part.encode() + b"\0")
    h.update(constraints.read_bytes())
    return h.hexdigest()[:16]


def _pins(constraints: Path) -> dict[str, str]:
    """name -> version for every ``name==version`` line of constraints.txt and COLAB_PACKAGES."""
    pins = {}
    for line in [*constraints.read_text(encoding="utf-8").splitlines(), *COLAB_PACKAGES]:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name)] = version.strip()
    return pins


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _installed_closure(constraints: Path):
    """The distributions of this test process's environment that the runtime would get.

    The Colab and kernel packages and everything they require (extras left out, markers
    evaluated here), each at the version that constraints.txt pins where it pins one. None when
    one is missing or at another version: then the runtime is installed with pip instead.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    pins = _pins(constraints)
    found, todo = {}, [*COLAB_PACKAGES, *KERNEL_PACKAGES]
    while todo:
        requirement = Requirement(todo.pop())
        key = _canonical(requirement.name)
        if key in found:
            continue
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            return None
        if key in pins and not SpecifierSet(f"=={pins[key]}").contains(dist.version):
            return None  # ("==2.13.0" admits the installed "2.13.0+cpu", as pip's pin does)
        found[key] = dist
        for line in dist.requires or []:
            dependency = Requirement(line)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                todo.append(line)
    return list(found.values())


def _link(venv: Path, dists) -> None:
    """The files of `dists` symlinked into `venv`'s site-packages (scripts in bin/ left out).

    A top-level folder that holds files of these distributions only is linked whole; one shared
    with a distribution the runtime must not see (a namespace package) file by file.
    """
    from importlib.metadata import distributions

    def top_levels(dist):
        return {f.parts[0] for f in dist.files or [] if ".." not in f.parts}

    owners: dict[str, set] = {}
    for dist in [*dists, *distributions()]:
        for entry in top_levels(dist):
            owners.setdefault(entry, set()).add(_canonical(dist.metadata["Name"]))
    allowed = {_canonical(d.metadata["Name"]) for d in dists}
    target = site_packages(venv)
    target.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        whole = {e for e in top_levels(dist) if owners[e] <= allowed}
        for entry in whole:
            source = Path(dist.locate_file(entry))
            if source.exists() and not (target / entry).exists():
                (target / entry).symlink_to(source)
        for file in dist.files or []:
            if ".." in file.parts or file.parts[0] in whole:
                continue
            source = Path(dist.locate_file(file))
            link = target / file
            if source.is_file() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(source)


def _build(venv: Path, constraints: Path) -> None:
    """Create the base runtime at `venv` (which must not exist).

    The pinned versions are those the project's own environment (the one running the tests)
    already has installed, so the base is made of links to those very files: seconds, instead of
    the minute or two pip takes to install torch again. If that environment lacks one of them or
    holds another version, pip installs them from the index instead.
    """
    _run([sys.executable, "-m", "venv", venv], what="creating the Colab runtime venv",
         env=clean_env(venv))
    py = python_of(venv)
    # Colab's pip is recent; the one bundled with the venv module may be years old (and prints
    # a notice into the first cell's output).
    _run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", "pip"],
         what="upgrading pip in the simulated runtime", env=clean_env(venv))
    dists = _installed_closure(constraints)
    if dists is not None:
        # the venv module's setuptools would sit beside the linked one (torch requires it)
        _run([py, "-m", "pip", "uninstall", "--disable-pip-version-check", "-q", "-y",
              "setuptools"], what="removing the venv's setuptools", env=clean_env(venv))
        _link(venv, dists)
    else:
        _run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", *COLAB_PACKAGES,
              *KERNEL_PACKAGES, "-c", constraints],
             what="installing the Colab packages into the simulated runtime", env=clean_env(venv))
    py = python_of(venv)
    # Colab's matplotlib has its font cache built; without one, the first import in a chapter
    # would print "Matplotlib is building the font cache" into that cell's output.
    mplconfig = venv / "mplconfig"
    mplconfig.mkdir()
    _run([py, "-c", "import matplotlib.pyplot"], what="building matplotlib's font cache",
         env=clean_env(venv, MPLCONFIGDIR=str(mplconfig)), cwd=venv)
    # The runtime must not already hold optlab: the chapters' first cell has to install it.
    probe = subprocess.run([str(py), "-c", "import optlab"], capture_output=True, text=True,
                           env=clean_env(venv), cwd=venv)
    if probe.returncode == 0 or "No module named 'optlab'" not in probe.stderr:
        raise RuntimeError(f"the fresh Colab runtime {venv} can already import optlab, or failed "
                           f"otherwise:\n{probe.stderr[-2000:]}")


@contextlib.contextmanager
def base_runtime(constraints: Path):
    """The cached base runtime for these inputs (built when missing), held under a shared lock.

    Yields the venv path. While it is held no other run can delete it; a run that builds a new
    base removes the bases of other inputs that nobody holds.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = _inputs_hash(constraints)
    venv = root / f"venv-{key}"
    marker = venv / ".complete"
    with open(root / f"venv-{key}.lock", "a+") as lock:
        # A complete base is used under a shared lock, so that the test workers (and other runs)
        # use it side by side: each holds its lock until its chapters are done, and an exclusive
        # request would wait for all of them (it did: one worker idled for 8 minutes in CI).
        # Only a missing or broken base is (re)built, under the exclusive lock.
        fcntl.flock(lock, fcntl.LOCK_SH)
        if not marker.is_file() or not _links_resolve(venv):
            fcntl.flock(lock, fcntl.LOCK_EX)  # not atomic: another run may have built it since
            if not marker.is_file() or not _links_resolve(venv):
                shutil.rmtree(venv, ignore_errors=True)
                try:
                    _build(venv, constraints)
                except BaseException:
                    shutil.rmtree(venv, ignore_errors=True)
                    raise
                marker.write_text(key + "\n")
                _remove_unused_bases(root, keep=key)
            fcntl.flock(lock, fcntl.LOCK_SH)
        yield venv


def _links_resolve(venv: Path) -> bool:
    """False when a linked package has gone (the project's environment was made anew)."""
    folder = site_packages(venv)
    return all(entry.exists() for entry in folder.iterdir() if entry.is_symlink())


def _remove_unused_bases(root: Path, keep: str) -> None:
    for lock_path in root.glob("venv-*.lock"):
        key = lock_path.name[len("venv-"):-len(".lock")]
        if key == keep:
            continue
        with open(lock_path, "a+") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use by another run
            shutil.rmtree(root / f"venv-{key}", ignore_errors=True)
            lock_path.unlink(missing_ok=True)


def fresh_runtime(base: Path, where: Path) -> Path:
    """A new, empty venv at `where` that sees the base's packages (a new Colab runtime)."""
    _run([python_of(base), "-m", "venv", "--without-pip", where],
         what="creating a fresh runtime", env=clean_env(base))
    layer = site_packages(where)
    layer.mkdir(parents=True, exist_ok=True)
    # Lines of a .pth file in site-packages are appended to sys.path: the fresh venv's own
    # site-packages (where pip installs) comes first, the base's packages after it.
    (layer / "colab-preinstalled.pth").write_text(f"{site_packages(base)}\n")
    return where
