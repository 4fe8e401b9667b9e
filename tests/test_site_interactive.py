"""The built site's interactive figures work in a real browser, offline.

For each page of ``_build/html`` that holds an interactive figure (optlab.interactive), headless
Chromium (started as in test_site_math.py, every host name unresolvable) loads the page from a
small HTTP server on 127.0.0.1 that serves the built site, inside a harness page served beside it.
The harness waits for the figures to draw, then for each figure:

* checks that it went live (its script and plotly.js loaded), that its plot holds traces with
  data, and that the still image was swapped for the plot;
* moves every slider and drop-down to another value, presses play on frame sliders, and checks
  that the drawn SVG (the paths of the plot's lines) and the data given to plotly changed.

The server records every file the browser fetched, which gives each page's weight, asserted
against the 5 MB budget (see ``page_weight``). A second run serves the page with plotly.js
withheld and checks that the figures then do NOT go live but keep their still image and caption:
proof that this test fails when the JavaScript does not load.

Skipped when the site has not been built (``bash scripts/build.sh``) or no Chromium is installed.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from test_site_math import SITE, browser  # noqa: F401 (browser: a fixture)

FIGURE_JS = ("optlab-figures.js", "plotly-cartesian.min.js")
EXPECTED = {"chapters/02_momentum.html": {"momentum-explorer"},
            "chapters/06_adam.html": {"adam-explorer", "optimizer-race"}}
BUDGET = 5_000_000  # bytes per page (see page_weight)
HARNESS = "/__optlab_harness__.html"


class FigureScan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.figures: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "optlab-figure" in (attrs.get("class") or "").split():
            self.figures.append(attrs.get("id", "").removeprefix("optlab-fig-"))


def figures_in(page: Path) -> list[str]:
    scan = FigureScan()
    scan.feed(page.read_text(encoding="utf-8"))
    return scan.figures


def figure_pages() -> list[str]:
    if not (SITE / "index.html").is_file():
        return sorted(EXPECTED)
    found = {p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
             if "_static" not in p.relative_to(SITE).parts and figures_in(p)}
    return sorted(found | set(EXPECTED))


HARNESS_JS = r"""
const sleep = ms => new Promise(r => setTimeout(r, ms));
const out = document.getElementById('result');
function drawn(fig) {           // what is on screen: the SVG paths of the plot's lines and markers
  return Array.from(fig.querySelectorAll('.optlab-plot .scatterlayer path'))
    .map(p => p.getAttribute('d') || '').join('|');
}
function data(fig) {            // what plotly was given
  const gd = fig.querySelector('.optlab-plot');
  return gd && gd.data ? JSON.stringify(gd.data.map(t => [t.x, t.y])) : '';
}
async function run() {
  const frame = document.getElementById('page');
  await new Promise(r => frame.addEventListener('load', r));
  const doc = frame.contentDocument, win = frame.contentWindow;
  const figs = Array.from(doc.querySelectorAll('.optlab-figure'));
  for (let i = 0; i < 100 && figs.some(f => ['still', 'loading'].includes(
       f.getAttribute('data-optlab-state'))); i++) await sleep(100);
  const report = {figures: {}, resources: win.performance.getEntriesByType('resource')
                  .map(e => e.name).concat([win.location.href])};
  for (const fig of figs) {
    const gd = fig.querySelector('.optlab-plot');
    const still = fig.querySelector('img.optlab-still');
    const r = report.figures[fig.id.replace('optlab-fig-', '')] = {
      state: fig.getAttribute('data-optlab-state'),
      still_visible: !!still && !still.hidden,
      caption: (fig.querySelector('.optlab-caption') || {}).textContent || '',
      traces: gd && gd.data ? gd.data.length : 0,
      points: gd && gd.data ? gd.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0,
      paths: fig.querySelectorAll('.optlab-plot .scatterlayer path').length,
      controls: [],
    };
    if (r.state !== 'live') continue;
    for (const input of fig.querySelectorAll('.optlab-controls input, .optlab-controls select')) {
      const before = [drawn(fig), data(fig), fig.querySelector('.optlab-readout').textContent];
      const n = input.tagName === 'SELECT' ? input.options.length : Number(input.max) + 1;
      const to = (Number(input.value) + Math.max(1, Math.floor(n / 3))) % n;
      input.value = String(to);
      input.dispatchEvent(new Event('input', {bubbles: true}));
      await sleep(300);
      const after = [drawn(fig), data(fig), fig.querySelector('.optlab-readout').textContent];
      r.controls.push({key: input.dataset.key, to: to, svg_changed: before[0] !== after[0],
                       data_changed: before[1] !== after[1], readout: after[2],
                       readout_changed: before[2] !== after[2]});
    }
    for (const button of fig.querySelectorAll('.optlab-play')) {
      const slider = button.parentNode.querySelector('input');
      const before = drawn(fig);
      button.click();                       // from the start, then one frame per interval
      await sleep(1500);
      const mid = Number(slider.value);
      button.click();                       // pause
      await sleep(500);
      const paused = Number(slider.value);
      await sleep(500);
      r.controls.push({key: 'play:' + slider.dataset.key, frame: mid, svg_changed: before !== drawn(fig),
                       paused_still: paused === Number(slider.value), max: Number(slider.max)});
    }
  }
  out.textContent = JSON.stringify(report);
}
run().catch(e => { out.textContent = JSON.stringify({error: String(e && e.stack || e)}); });
"""


def harness_html(page: str) -> str:
    return ("<!doctype html><html><head><meta charset='utf-8'></head><body>"
            f"<iframe id='page' src='/{page}' style='width:1300px;height:9000px'></iframe>"
            f"<pre id='result'></pre><script>{HARNESS_JS}</script></body></html>")


class SiteServer:
    """The built site on 127.0.0.1, with the harness page, a log of served files and an
    optional list of files to withhold (answered 404)."""

    def __init__(self, site: Path):
        self.site, self.log, self.withheld = site, [], set()
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path == HARNESS:
                    body = harness_html(parse_qs(url.query)["page"][0]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                name = unquote(url.path).rsplit("/", 1)[-1]
                if name in outer.withheld:
                    self.send_error(404)
                    return
                path = Path(self.translate_path(self.path))
                if path.is_file():
                    outer.log.append((unquote(url.path), path.stat().st_size))
                super().do_GET()

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def run_page(browser: str, server: SiteServer, page: str, profile: Path) -> dict:
    server.log.clear()
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=60000",
        "--window-size=1400,1000",
        # no host resolves but the test's own server: a CDN cannot help
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--dump-dom", f"{server.origin}{HARNESS}?page={page}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "<html" in done.stdout, (
        f"{browser} failed on {page} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, flags=re.S)
    assert found and found.group(1).strip(), f"{page}: the harness reported nothing"
    report = json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&quot;", '"').replace("&amp;", "&"))
    assert "error" not in report, f"{page}: the harness failed: {report['error']}"
    report["served"] = list(server.log)
    return report


def page_weight(served: list[tuple[str, int]]) -> tuple[int, int]:
    """(the page's own bytes, all bytes) fetched on a cold load.

    Own: the HTML, its images and the figures' data (inside the HTML) and their two scripts:
    everything but the theme's assets under _static/ (CSS, fonts, MathJax), which every page
    of the site loads, the landing page too, and which the browser caches after the first.
    """
    total = sum(size for _, size in served)
    theme = sum(size for path, size in served
                if path.startswith("/_static/") and path.rsplit("/", 1)[-1] not in FIGURE_JS)
    return total - theme, total




@pytest.fixture(scope="module")
def server():
    with SiteServer(SITE) as running:
        yield running


def test_the_figures_are_in_the_site() -> None:
    if not (SITE / "index.html").is_file():
        pytest.skip(f"site not built: no {SITE / 'index.html'} (run: bash scripts/build.sh)")
    for page, names in EXPECTED.items():
        assert set(figures_in(SITE / page)) >= names, f"{page}: figures {figures_in(SITE / page)}"
    for name in FIGURE_JS:
        assert (SITE / "_static" / name).is_file(), f"_static/{name} is missing from the site"
    for page in figure_pages():
        html = (SITE / page).read_text(encoding="utf-8")
        for src in re.findall(r'<script[^>]*\ssrc="([^"]*)"', html):
            assert not re.match(r"(https?:)?//", src), f"{page} loads a script from {src}"


@pytest.mark.parametrize("page", figure_pages())
def test_figures_move_offline(page: str, browser: str, server: SiteServer,
                              tmp_path: Path) -> None:
    report = run_page(browser, server, page, tmp_path / "profile")
    figures = report["figures"]
    assert set(figures) >= EXPECTED.get(page, set()), f"{page}: figures found {sorted(figures)}"
    assert figures, f"{page}: no interactive figure"
    origin = server.origin + "/"
    foreign = [url for url in report["resources"] if not url.startswith(origin)]
    assert not foreign, f"{page}: resources from elsewhere than the site: {foreign}"
    for name, fig in figures.items():
        assert fig["state"] == "live", f"{page}: figure {name} did not go live: {fig}"
        assert not fig["still_visible"], f"{page}: {name}: the still image is still shown"
        assert fig["caption"].strip(), f"{page}: {name} has no caption"
        assert fig["traces"] >= 2 and fig["points"] > 10 and fig["paths"] >= 2, (
            f"{page}: {name} holds no data: {fig}")
        assert fig["controls"], f"{page}: {name} has no controls"
        for control in fig["controls"]:
            assert control["svg_changed"], f"{page}: {name}: {control['key']} changed nothing drawn"
            if control["key"].startswith("play:"):
                assert 0 < control["frame"] < control["max"], (
                    f"{page}: {name}: play did not advance the frames: {control}")
                assert control["paused_still"], f"{page}: {name}: pause did not stop: {control}"
            else:
                assert control["data_changed"], f"{page}: {name}: {control['key']}: same data"
    own, total = page_weight(report["served"])
    print(f"{page}: {own / 1e6:.2f} MB of its own (HTML, images, figure data and scripts), "
          f"{total / 1e6:.2f} MB with the theme's shared assets, cold cache")
    assert any(path.endswith("/plotly-cartesian.min.js") for path, _ in report["served"])
    assert own <= BUDGET, f"{page}: {own / 1e6:.2f} MB > {BUDGET / 1e6:.0f} MB"


def test_without_plotly_the_still_image_stays(browser: str, server: SiteServer,
                                              tmp_path: Path) -> None:
    """The check above fails when the JavaScript does not load: with plotly.js withheld no
    figure goes live, and each keeps its still image and caption."""
    page = sorted(EXPECTED)[0]
    server.withheld = {"plotly-cartesian.min.js"}
    try:
        report = run_page(browser, server, page, tmp_path / "profile")
    finally:
        server.withheld = set()
    assert report["figures"]
    for name, fig in report["figures"].items():
        assert fig["state"] == "failed", f"{name}: {fig}"
        assert fig["still_visible"] and fig["caption"].strip() and fig["traces"] == 0, fig
