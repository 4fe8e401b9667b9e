"""optlab.interactive: the figure spec, its validation, the three output modes and their sanitizing.

The browser side (the script drawing and moving the figures) is tested on the built site by
tests/test_site_interactive.py; here the Python side: that the data rows the script indexes are
the right ones, that each mode's markup refers to (or carries) the right scripts, and that
sanitize.cfg reduces every mode's markup to the same token, so nbval and the Colab runtime test
compare a figure cell the same way wherever it runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from optlab import interactive
from optlab.objectives import Quadratic

ROOT = Path(__file__).resolve().parents[1]


def small_figure(name="demo"):
    fig = interactive.Figure(name, caption="What to look for: the line moves.", alt="a line")
    a = fig.slider("a", "a", [1.0, 2.0, 3.0], initial=1)
    b = fig.slider("b", "b", [10.0, 20.0], initial=0)
    p = fig.panel(xlabel="step", ylabel="value", logy=True)
    k = np.arange(5)
    # row (i, j) holds 100 i + j at every point: the script's row index must find it
    y = 100 * np.arange(3)[:, None, None] + np.arange(2)[None, :, None] + 0 * k + 1.0
    fig.line(p, x=k, y=y, over=[a, b], name="line")
    fig.text("a = {a}, b = {b}", over=[a, b],
             a=np.array([["1", "1"], ["2", "2"], ["3", "3"]]), b=np.array([[10, 20]] * 3))
    return fig


def script_row(over, controls, state):
    """optlab-figures.js's rowIndex, in Python."""
    i = 0
    for j in over:
        i = i * len(controls[j]["labels"]) + state[j]
    return i


def sanitize_patterns():
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns((ROOT / "sanitize.cfg").read_text(encoding="utf-8"))


def sanitized(text):
    for regex, replace in sanitize_patterns():
        text = re.sub(regex, replace, text)
    return text


def test_the_script_finds_every_row():
    spec = small_figure().spec()
    (dyn,) = spec["dynamic"]
    assert dyn["x1"] == [0, 1, 2, 3, 4] and "x" not in dyn   # shared x: sent once
    assert len(dyn["y"]) == 6
    for i in range(3):
        for j in range(2):
            row = script_row(dyn["over"], spec["controls"], [i, j])
            assert dyn["y"][row] == [100 * i + j + 1.0] * 5
            assert spec["readout"]["values"]["a"][row] == str(i + 1)
            assert spec["readout"]["values"]["b"][row] == f"{(j + 1) * 10:.4g}"
    assert spec["traces"][0]["x"] == [] and spec["layout"]["yaxis"]["type"] == "log"
    assert [c["initial"] for c in spec["controls"]] == [1, 0]


def test_frames_reveal_a_path_and_contours_are_drawn():
    fig = interactive.Figure("race", caption="c", alt="a")
    steps = fig.frames("step", "step", range(0, 11, 5))
    p = fig.panel(xlabel="x", ylabel="y", xlim=(-1, 1), ylim=(-1, 1),
                  contour=Quadratic(np.eye(2)), resolution=9)
    path = np.stack([np.linspace(1, 0, 11), np.zeros(11)], axis=-1)
    fig.line(p, x=path[:, 0], y=path[:, 1], reveal=steps, name="GD")
    fig.line(p, x=path[:, 0], y=path[:, 1], reveal=steps, head=True, name="GD")
    spec = fig.spec()
    assert spec["traces"][0]["type"] == "contour" and len(spec["traces"][0]["z"]) == 9
    assert [d["reveal"] for d in spec["dynamic"]] == [0, 0]
    assert spec["dynamic"][1]["head"] and spec["controls"][0]["play"]
    assert spec["controls"][0]["values"] == [0, 5, 10] and spec["controls"][0]["initial"] == 2
    with pytest.raises(ValueError, match="needs 16"):
        fig.line(p, x=path[:3, 0], y=path[:3, 1], reveal=fig.frames("t", "t", [0, 15]),
                 name="short")


def test_non_finite_values_become_null():
    fig = interactive.Figure("nan", caption="c", alt="a")
    s = fig.slider("s", "s", [0, 1])
    fig.line(fig.panel(xlabel="x", ylabel="y"), x=np.arange(3),
             y=np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 3.0]]), over=[s], name="l")
    assert fig.spec()["dynamic"][0]["y"] == [[1.0, None, 2.0], [None, 1.0, 3.0]]
    json.dumps(fig.spec(), allow_nan=False)


@pytest.mark.parametrize("call, match", [
    (lambda: interactive.Figure("Bad Name", caption="c", alt="a"), "name must be"),
    (lambda: interactive.Figure("ok", caption="", alt="a"), "caption must be"),
    (lambda: interactive.Figure("ok", caption="c", alt="a", digits=1), r"digits must be an int in \[2, 15\]"),
    (lambda: interactive.Figure("ok", caption="c", alt="a").slider("s", "s", [1, 2], initial=2),
     r"initial must be an index in \[0, 1\]"),
    (lambda: interactive.Figure("ok", caption="c", alt="a").frames("f", "f", [0, 2, 1]),
     "increasing"),
    (lambda: interactive.Figure("ok", caption="c", alt="a").frames("f", "f", [0, 1], interval_ms=1),
     r"interval_ms must be an int in \[10, 5000\]"),
    (lambda: interactive.Figure("ok", caption="c", alt="a").panel(
        xlabel="x", ylabel="y", contour=Quadratic(np.eye(2))), "needs xlim and ylim"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_shapes_and_foreign_controls_leave_the_figure_unchanged():
    fig = small_figure()
    before = json.dumps(fig.spec())
    a = fig.controls[0]
    with pytest.raises(ValueError, match=r"shape \(\*\[3\], points\)"):
        fig.line(fig.panels[0], x=np.arange(4), y=np.zeros((2, 4)), over=[a], name="bad")
    other = interactive.Figure("other", caption="c", alt="a").slider("z", "z", [1])
    with pytest.raises(ValueError, match="not one of this figure's"):
        fig.line(fig.panels[0], x=np.arange(4), y=np.zeros((1, 4)), over=[other], name="bad")
    with pytest.raises(ValueError, match="exists already"):
        fig.slider("a", "again", [1])
    with pytest.raises(ValueError, match=r"must have shape \(3,\)"):
        fig.text("{v}", over=[a], v=np.zeros(2))
    assert json.dumps(fig.spec()) == before


def test_modes_and_their_markup(monkeypatch):
    fig = small_figure("modes")
    monkeypatch.delenv(interactive.ENV_STATIC, raising=False)
    assert fig.mode == "inline"                       # a checkout: both scripts are at hand
    inline = fig.to_html()
    plotly = (interactive.STATIC / interactive.PLOTLY).read_text(encoding="utf-8")
    assert plotly[:200] in inline and "window.optlabFigures" in inline
    assert 'optlabFigures.mount("optlab-fig-modes", null)' in inline

    monkeypatch.setenv(interactive.ENV_STATIC, "../_static/")
    assert fig.mode == "site"
    site = fig.to_html()
    assert '<script src="../_static/optlab-figures.js"></script>' in site
    assert 'mount("optlab-fig-modes", "../_static/plotly-cartesian.min.js")' in site
    assert len(site) < 100_000 and plotly[:200] not in site

    monkeypatch.delenv(interactive.ENV_STATIC)
    monkeypatch.setattr(interactive, "STATIC", Path("/nonexistent"))
    assert fig.mode == "still"
    still = fig.to_html()
    assert "<script src" not in still and "mount(" not in still and "Still image only" in still
    with pytest.raises(ValueError, match="mode must be one of"):
        fig.to_html("movie")
    with pytest.raises(ValueError, match="needs static"):
        fig.to_html("site")

    for markup in (inline, site, still):
        assert markup.startswith("<!-- optlab-interactive-figure:modes -->")
        assert markup.endswith("<!-- /optlab-interactive-figure -->")
        assert 'alt="a line"' in markup and "What to look for: the line moves." in markup
        assert 'src="data:image/png;base64,iVBORw0KGgo' in markup     # the still image
        # sanitize.cfg makes every mode compare equal, and leaves text around it alone
        assert sanitized(f"before\n{markup}\nafter") == (
            "before\n<optlab interactive figure modes>\nafter")


def test_markup_cannot_close_its_script_element():
    fig = interactive.Figure("esc", caption="c", alt="a")
    fig.select("s", "</script><b>", ["</script>"])
    with pytest.raises(ValueError, match="has no panel"):
        fig.to_html("site", static="s")
    fig.panel(xlabel="x", ylabel="y")
    html = fig.to_html("site", static="s")
    data = re.search(r'class="optlab-data">(.*?)</script>', html, flags=re.S).group(1)
    assert json.loads(data)["controls"][0]["labels"] == ["</script>"]


def test_the_served_scripts_are_the_committed_ones():
    plotly = (interactive.STATIC / interactive.PLOTLY).read_bytes()
    notice = (interactive.STATIC / "plotly-cartesian.LICENSE.txt").read_text(encoding="utf-8")
    assert plotly.startswith(b"/**\n* plotly.js (cartesian - minified) v4.1.1")
    assert hashlib.sha256(plotly).hexdigest() in notice and "MIT License" in notice
    assert b"window.Plotly = Plotly" in plotly and b"</script" not in plotly
    script = (interactive.STATIC / interactive.SCRIPT).read_text(encoding="utf-8")
    assert "window.optlabFigures = {mount: mount" in script
    assert not re.search(r"https?://", script)        # nothing fetched from the network
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert "- src/optlab/interactive/static" in config


def test_summary_is_stable_text():
    assert repr(small_figure()) == (
        "interactive figure 'demo': 1 panel(s), 1 trace(s), controls (a: 3 values, b: 2 values);"
        " data for 6 setting(s)")


def test_the_still_never_spells_a_memory_address(monkeypatch):
    """test_chapters.py rejects "0x7f" in text outputs; the still's base64 avoids it."""
    import base64

    fig = small_figure()
    unlucky = base64.b64decode("0x7fAAAA")
    monkeypatch.setattr(fig, "still_png", lambda comment=None: unlucky if comment is None
                        else b"\x89PNG" + comment.encode())
    assert "0x7f" not in fig._still_base64()
    assert "0x7f" not in fig.to_html("site", static="s")
