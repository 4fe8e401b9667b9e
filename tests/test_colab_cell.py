"""Every chapter notebook runs on Colab as is.

Its first code cell installs optlab from the repository when it is missing (on Colab), and does
nothing where optlab is installed (locally, under nbval and in the book build). The repository
URL is read from ``_config.yml``'s ``repository.url``, the one place it lives.

Chapters are the notebooks in ``chapters/`` plus the notebooks listed in ``_toc.yml``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


def book_version() -> str:
    """The version in pyproject.toml: the tag ``v<version>`` a chapter installs on Colab."""
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def colab_cell_source(url: str | None = None, ref: str | None = None) -> str:
    """The canonical first code cell of every chapter (paste it verbatim).

    The install is pinned to the book's tag ``v<version>``, so a chapter on Colab never runs
    against a newer optlab than the one its text and stored outputs were made with.
    """
    url = repository_url() if url is None else url
    ref = f"v{book_version()}" if ref is None else ref
    return (
        "# Running on Colab? This installs optlab from the book's repository."
        " Locally it does nothing.\n"
        "try:\n"
        "    import optlab\n"
        "except ImportError:\n"
        f'    %pip install -q "optlab @ git+{url}.git@{ref}"\n'
        "    import optlab"
    )


def toc_files() -> list[str]:
    """Every `file:` entry of _toc.yml (root excluded), at any depth."""
    return toc_entries(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))


def toc_entries(toc: dict) -> list[str]:
    """Every `file:` entry of a parsed _toc.yml (root excluded), at any depth."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def resolve(entry: str) -> Path | None:
    """The source file of a toc entry (Jupyter Book lets the suffix be left out)."""
    path = ROOT / entry
    for candidate in (path, path.with_suffix(".ipynb"), path.with_suffix(".md")):
        if candidate.is_file():
            return candidate
    return None


def chapter_notebooks() -> list[Path]:
    notebooks = set((ROOT / "chapters").glob("*.ipynb"))
    for entry in toc_files():
        path = resolve(entry)
        if path is not None and path.suffix == ".ipynb":
            notebooks.add(path)
    return sorted(notebooks)


def first_code_cell(notebook: Path) -> str | None:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            source = cell["source"]
            return "".join(source) if isinstance(source, list) else source
    return None


def test_canonical_cell_uses_the_configured_repository() -> None:
    url = repository_url()
    assert url.startswith("https://github.com/"), url
    assert f"git+{url}.git@v{book_version()}" in colab_cell_source()


def test_toc_entries_exist() -> None:
    missing = [entry for entry in toc_files() if resolve(entry) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_chapter_starts_with_the_colab_cell() -> None:
    """Passes trivially while chapters/ is empty."""
    expected = colab_cell_source()
    wrong = {}
    for notebook in chapter_notebooks():
        got = first_code_cell(notebook)
        if got is None or got.strip() != expected:
            wrong[str(notebook.relative_to(ROOT))] = got
    assert not wrong, (
        "the first code cell of these chapters is not the Colab bootstrap cell:\n"
        + "\n".join(f"  {name}: {got!r}" for name, got in wrong.items())
        + f"\nexpected exactly:\n{expected}"
    )


def test_every_chapter_uses_the_python3_kernel() -> None:
    """The build, nbval and Colab all start the kernel named in the notebook: "python3"."""
    wrong = {}
    for notebook in chapter_notebooks():
        meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
        name = meta.get("kernelspec", {}).get("name")
        if name != "python3":
            wrong[str(notebook.relative_to(ROOT))] = name
    assert not wrong, f"kernelspec.name must be 'python3': {wrong}"
