"""The built site renders its mathematics offline.

Opens the landing page and every chapter page of ``_build/html`` in headless Chromium (no
network needed: MathJax is served from ``_static/mathjax/``), lets MathJax run, and checks the
resulting DOM: every math element became a ``mjx-container``, MathJax reported no TeX error, and
no TeX delimiter is left in the visible text.

Skipped when the site has not been built (``bash scripts/build.sh``) or when no Chromium is
installed (Debian: ``apt-get install chromium``). ``.ci/run`` runs this file again after the
build, so there it always checks the fresh site.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
BROWSERS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")

# Text that must not survive MathJax outside code, scripts and rendered math.
RAW_TEX = ("\\(", "\\)", "\\[", "\\]", "$$", "\\begin{", "\\end{")

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}
NOT_TEXT = {"script", "style", "pre", "code", "textarea", "noscript", "template",
            "mjx-container"}


def find_browser() -> str | None:
    for name in BROWSERS:
        path = name if os.path.isabs(name) else shutil.which(name)
        if path and os.access(path, os.X_OK):
            return path
    return None


def pages() -> list[Path]:
    return [SITE / "index.html", *sorted((SITE / "chapters").glob("*.html"))]


def dump_dom(browser: str, page: Path, profile: Path) -> str:
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no host resolves: a CDN cannot help
        "--dump-dom", page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<html" in done.stdout, (
        f"{browser} failed on {page} (exit {done.returncode}):\n{done.stderr[-2000:]}"
    )
    return done.stdout


class MathScan(HTMLParser):
    """Walks a DOM: math elements and whether each holds a mjx-container, the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int | None]] = []  # (tag, index into self.math or None)
        self.math: list[dict] = []  # {"id", "rendered"} per element with class "math"
        self.containers = 0
        self.errors = 0
        self.undefined: list[str] = []  # MathJax's noundefined: <mtext mathcolor="red">\foo
        self._red_mtext = False
        self.hidden = 0  # depth inside NOT_TEXT elements
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "mjx-container":
            self.containers += 1
            for _, idx in self.stack:
                if idx is not None:
                    self.math[idx]["rendered"] = True
        if tag == "mjx-merror" or "data-mjx-error" in attrs:
            self.errors += 1
        self._red_mtext = tag == "mtext" and attrs.get("mathcolor") == "red"
        if tag in VOID:
            return
        idx = None
        if "math" in (attrs.get("class") or "").split():
            idx = len(self.math)
            self.math.append({"id": attrs.get("id") or f"#{idx}", "rendered": False})
        self.stack.append((tag, idx))
        if tag in NOT_TEXT:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        # pop to the matching open tag (the serialized DOM is well formed; be lenient anyway)
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                for closed, _ in self.stack[depth:]:
                    if closed in NOT_TEXT:
                        self.hidden -= 1
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if self._red_mtext and data.startswith("\\"):
            self.undefined.append(data)
        self._red_mtext = False
        if not self.hidden:
            self.text.append(data)


def scan(html: str) -> MathScan:
    parser = MathScan()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def browser() -> str:
    if not (SITE / "index.html").is_file():
        pytest.skip(f"site not built: no {SITE / 'index.html'} (run: bash scripts/build.sh)")
    found = find_browser()
    if found is None:
        pytest.skip("no Chromium found (tried: " + ", ".join(BROWSERS)
                    + "); install one, e.g. apt-get install chromium")
    return found


@pytest.mark.parametrize(
    "page", pages() if (SITE / "index.html").is_file() else [SITE / "index.html"],
    ids=lambda p: str(p.relative_to(SITE)) if p.is_relative_to(SITE) else str(p),
)
def test_math_renders_offline(page: Path, browser: str, tmp_path: Path) -> None:
    static = scan(page.read_text(encoding="utf-8"))
    assert static.math, f"{page.name}: no math in the page; every checked page must have some"

    dom = scan(dump_dom(browser, page, tmp_path / "profile"))

    assert dom.containers > 0, (
        f"{page.name}: MathJax rendered nothing (no <mjx-container>); is "
        "_static/mathjax/tex-chtml.js there and loadable?"
    )
    unrendered = [m["id"] for m in dom.math if not m["rendered"]]
    assert not unrendered, f"{page.name}: math elements not rendered: {unrendered[:10]}"
    assert len(dom.math) >= len(static.math), f"{page.name}: math elements disappeared"
    assert dom.errors == 0, f"{page.name}: MathJax reported {dom.errors} TeX error(s)"
    assert not dom.undefined, f"{page.name}: undefined TeX macros: {sorted(set(dom.undefined))}"

    visible = "".join(dom.text)
    left = sorted({tex for tex in RAW_TEX if tex in visible})
    assert not left, f"{page.name}: raw TeX left in the visible text: {left}"


def test_mathjax_is_local() -> None:
    """Every page loads MathJax from _static/mathjax/, never from a CDN."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"site not built: no {SITE / 'index.html'} (run: bash scripts/build.sh)")
    assert (SITE / "_static" / "mathjax" / "tex-chtml.js").is_file()
    loaded = 0
    for page in SITE.rglob("*.html"):
        if "_static" in page.relative_to(SITE).parts:
            continue
        html = page.read_text(encoding="utf-8")
        local = Path(os.path.relpath(SITE / "_static/mathjax/tex-chtml.js", page.parent))
        for src in re.findall(r'<script[^>]*\ssrc="([^"]*mathjax[^"]*)"', html, flags=re.I):
            path = src.split("?", 1)[0]  # Sphinx may append ?v=<checksum>
            assert path == local.as_posix(), f"{page}: MathJax loaded from {src}, not {local}"
            loaded += 1
        for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com/mathjax", "mathjax@"):
            assert cdn not in html, f"{page}: refers to a MathJax CDN ({cdn})"
    assert loaded, "no page loads MathJax at all"
