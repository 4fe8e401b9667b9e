"""Figures that move: sliders and play/scrub controls over data precomputed by an optlab sweep.

A `Figure` holds panels (axes), traces (lines, markers, contour backgrounds) and controls
(sliders, a drop-down, a frame slider with play/pause). Every array a trace or the read-out shows
is computed beforehand, in Python, once for every setting of the controls it depends on (one
vectorized optlab sweep does it); moving a control only picks another precomputed array. In the
browser, `plotly.js <https://plotly.com/javascript/>`_ draws the panels and a small script of ours,
``static/optlab-figures.js``, wires the controls to ``Plotly.react``::

    from optlab import interactive
    fig = interactive.Figure("demo", caption="What to look for: ...", alt="...")
    a = fig.slider("alpha", "step size α", [0.1, 0.2, 0.3])
    panel = fig.panel(xlabel="step", ylabel="loss", logy=True)
    fig.line(panel, x=np.arange(51), y=losses, over=[a], name="loss")   # losses: (3, 51)
    fig                                  # in a notebook: the figure (or its still image)

How the figure reaches the reader, by where the cell runs (``Figure.mode``):

* ``"site"``: the environment variable ``OPTLAB_FIGURE_STATIC`` names the URL folder that serves
  the two JavaScript files (``scripts/execute.sh`` sets it to ``../_static`` when it stores a
  chapter's outputs; ``_config.yml`` serves this package's ``static/`` folder as the site's
  ``_static``). The stored output then refers to those files instead of carrying them.
* ``"inline"``: otherwise, in a live Jupyter or Colab kernel, the output carries both scripts
  itself (1.5 MB), read from this package's ``static/`` folder.
* ``"still"``: an installation without that folder (a wheel built without package data): the
  still image, caption and a note.

Every mode shows the still image (drawn by matplotlib at the controls' initial settings) until
the script has drawn the live figure, so a page whose JavaScript does not load still shows the
figure and its caption. The markup starts and ends with HTML comments naming the figure, which
``sanitize.cfg`` replaces by one token: nbval compares the figure's text summary and the
neighbouring cell's printed numbers, never the markup itself, which differs between modes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..plot import COLORS

STATIC = Path(__file__).resolve().parent / "static"
SCRIPT = "optlab-figures.js"
PLOTLY = "plotly-cartesian.min.js"
ENV_STATIC = "OPTLAB_FIGURE_STATIC"
MODES = ("site", "inline", "still")
BEGIN = "<!-- optlab-interactive-figure:{name} -->"
END = "<!-- /optlab-interactive-figure -->"
_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")


def _round(values, digits):
    """Nested lists of floats rounded to `digits` significant digits; NaN and ±inf become None."""
    a = np.asarray(values, dtype=float)
    flat = [None if not np.isfinite(v) else float(f"{v:.{digits}g}") for v in a.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(a.shape).tolist() if a.ndim else flat[0]


@dataclass
class Control:
    """A slider (or, with ``kind="select"``, a drop-down) over precomputed settings."""

    key: str
    label: str
    values: list
    labels: list[str]
    initial: int
    kind: str = "slider"
    play: bool = False
    interval_ms: int = 0

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass
class Panel:
    """One set of axes: position in a row of panels, labels, ranges, scales."""

    index: int
    xlabel: str
    ylabel: str
    title: str = ""
    xlim: tuple | None = None
    ylim: tuple | None = None
    logy: bool = False
    equal: bool = False
    contour: dict | None = None  # {"x": (n,), "y": (m,), "z": (m, n), "objective", "log"}


@dataclass
class Trace:
    panel: Panel
    name: str
    color: str
    x: np.ndarray  # (*[control sizes of `over`], points)
    y: np.ndarray
    over: list[Control] = field(default_factory=list)
    reveal: Control | None = None  # a frame control: show points 0..k (or only k, with head)
    head: bool = False
    dash: str = "solid"
    markers: bool = False
    legend: bool = True


class Figure:
    """An interactive figure: controls, panels and traces of precomputed data (module docstring).

    name: lower-case letters, digits and '-' (the element id on the page). caption: what to look
    for, shown under the figure in every mode. alt: the still image's text alternative.
    digits: significant digits of the data sent to the page (3 is finer than a pixel).
    """

    def __init__(self, name: str, *, caption: str, alt: str, title: str = "",
                 height: int = 420, digits: int = 3):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"name must be lower-case letters, digits and '-', starting with a "
                             f"letter, got {name!r}")
        for arg, value in (("caption", caption), ("alt", alt)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{arg} must be a non-empty string, got {value!r}")
        if not isinstance(digits, int) or not 2 <= digits <= 15:
            raise ValueError(f"digits must be an int in [2, 15], got {digits!r}")
        self.name, self.caption, self.alt, self.title = name, caption, alt, title
        self.height, self.digits = int(height), digits
        self.controls: list[Control] = []
        self.panels: list[Panel] = []
        self.traces: list[Trace] = []
        self.readout: tuple[str, list[Control], dict] | None = None

    # ---- building -------------------------------------------------------------------------
    def _control(self, control: Control) -> Control:
        if any(c.key == control.key for c in self.controls):
            raise ValueError(f"a control named {control.key!r} exists already")
        if control.size < 1:
            raise ValueError(f"control {control.key!r} needs at least one value")
        if not 0 <= control.initial < control.size:
            raise ValueError(f"initial must be an index in [0, {control.size - 1}] for control "
                             f"{control.key!r}, got {control.initial}")
        self.controls.append(control)
        return control

    def slider(self, key, label, values, *, initial=0, labels=None, fmt="{:.4g}") -> Control:
        """A slider over `values` (one precomputed setting each); `labels` shows them."""
        values = list(np.asarray(values).tolist())
        labels = [fmt.format(v) for v in values] if labels is None else [str(s) for s in labels]
        if len(labels) != len(values):
            raise ValueError(f"labels has {len(labels)} entries, values {len(values)}")
        return self._control(Control(key, label, values, labels, int(initial)))

    def select(self, key, label, options, *, initial=0) -> Control:
        """A drop-down over named options (e.g. preset gradient sequences)."""
        options = [str(o) for o in options]
        return self._control(Control(key, label, list(range(len(options))), options,
                                     int(initial), kind="select"))

    def frames(self, key, label, steps, *, initial=None, interval_ms=80) -> Control:
        """A frame slider over the step counts `steps` (increasing), with a play/pause button."""
        steps = [int(s) for s in steps]
        if any(b <= a for a, b in zip(steps, steps[1:])) or (steps and steps[0] < 0):
            raise ValueError("steps must be increasing non-negative integers")
        if not isinstance(interval_ms, int) or not 10 <= interval_ms <= 5000:
            raise ValueError(f"interval_ms must be an int in [10, 5000], got {interval_ms!r}")
        initial = len(steps) - 1 if initial is None else int(initial)
        return self._control(Control(key, label, steps, [str(s) for s in steps], initial,
                                     play=True, interval_ms=interval_ms))

    def panel(self, *, xlabel, ylabel, title="", xlim=None, ylim=None, logy=False,
              contour=None, levels=20, resolution=80) -> Panel:
        """A new panel to the right of the others; `contour` (an objective) draws its level
        lines under the traces, on the window (xlim, ylim), log-spaced where f >= 0."""
        p = Panel(len(self.panels), xlabel, ylabel, title, xlim, ylim, logy,
                  equal=contour is not None)
        if contour is not None:
            if xlim is None or ylim is None:
                raise ValueError("a contour panel needs xlim and ylim")
            gx, gy = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
            Z = np.asarray(contour.value(np.stack(np.meshgrid(gx, gy), axis=-1)), dtype=float)
            log = bool(Z.min() >= 0 and Z.max() > 0)
            p.contour = {"x": gx, "y": gy, "z": Z, "objective": contour, "log": log,
                         "levels": int(levels)}
        self.panels.append(p)
        return p

    def line(self, panel, *, x, y, over=(), name, color=None, reveal=None, head=False,
             dash="solid", markers=False, legend=True) -> Trace:
        """A line whose points are the last axis of `x` and `y`; their leading axes run over the
        controls `over`, in order (shape (*sizes, points)). With `reveal` (a frame control) the
        line shows its points 0..k at frame k, or only point k with ``head=True``."""
        over = list(over)
        for c in over + ([reveal] if reveal is not None else []):
            if c not in self.controls:
                raise ValueError(f"control {getattr(c, 'key', c)!r} is not one of this figure's")
        if panel not in self.panels:
            raise ValueError("panel is not one of this figure's panels")
        lead = tuple(c.size for c in over)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        x, y = np.broadcast_arrays(x, y)
        if x.shape[:-1] != lead or x.ndim != len(lead) + 1:
            raise ValueError(f"line {name!r}: x and y must have shape (*{list(lead)}, points) for "
                             f"the controls {[c.key for c in over]}, got {x.shape}")
        if reveal is not None and x.shape[-1] <= max(reveal.values):
            raise ValueError(f"line {name!r} has {x.shape[-1]} points; frame control "
                             f"{reveal.key!r} needs {max(reveal.values) + 1}")
        color = COLORS[len([t for t in self.traces if not t.head]) % len(COLORS)] \
            if color is None else color
        trace = Trace(panel, name, color, x, y, over, reveal, head, dash, markers, legend)
        self.traces.append(trace)
        return trace

    def text(self, template: str, *, over=(), **values) -> None:
        """A read-out under the controls: `template` with ``{name}`` fields, each filled from an
        array of strings (or numbers, shown with 4 significant digits) of shape (*sizes)."""
        over = list(over)
        lead = tuple(c.size for c in over)
        table = {}
        for key, v in values.items():
            a = np.asarray(v, dtype=object)
            if a.shape != lead:
                raise ValueError(f"text value {key!r} must have shape {lead}, got {a.shape}")
            table[key] = [s if isinstance(s, str) else f"{float(s):.4g}" for s in a.ravel()]
        self.readout = (template, over, table)

    # ---- state and data ---------------------------------------------------------------------
    def _initial_points(self, trace: Trace):
        idx = tuple(c.initial for c in trace.over)
        x, y = trace.x[idx], trace.y[idx]
        if trace.reveal is not None:
            k = trace.reveal.values[trace.reveal.initial]
            x, y = (x[k:k + 1], y[k:k + 1]) if trace.head else (x[:k + 1], y[:k + 1])
        return x, y

    def settings(self) -> int:
        """How many combinations of the controls' values the figure holds data for."""
        return int(np.prod([c.size for c in self.controls])) if self.controls else 1

    def spec(self) -> dict:
        """The JSON the page's script reads: plotly traces and layout, controls, data."""
        if not self.panels:
            raise ValueError(f"figure {self.name!r} has no panel: add one with panel()")
        n = max(len(self.panels), 1)
        gap = 0.1 if n > 1 else 0.0
        width = (1 - gap * (n - 1)) / n
        layout = {
            "height": self.height, "margin": {"l": 60, "r": 20, "t": 40 if self.title else 28,
                                              "b": 50},
            "font": {"family": "sans-serif", "size": 12}, "hovermode": "closest",
            "legend": {"orientation": "h", "x": 0, "y": -0.18, "font": {"size": 11}},
            "paper_bgcolor": "white", "plot_bgcolor": "white", "uirevision": "keep",
        }
        if self.title:
            layout["title"] = {"text": html.escape(self.title), "x": 0.01}
        annotations = []
        for p in self.panels:
            suffix = "" if p.index == 0 else str(p.index + 1)
            lo = p.index * (width + gap)
            xa = {"domain": [lo, lo + width], "title": {"text": p.xlabel}, "anchor": f"y{suffix}",
                  "showgrid": True, "gridcolor": "#eee", "zeroline": False, "linecolor": "#444"}
            ya = {"title": {"text": p.ylabel}, "anchor": f"x{suffix}", "showgrid": True,
                  "gridcolor": "#eee", "zeroline": False, "linecolor": "#444"}
            if p.xlim is not None:
                xa["range"], xa["autorange"] = list(map(float, p.xlim)), False
            if p.ylim is not None:
                rng = np.log10(p.ylim) if p.logy else p.ylim
                ya["range"], ya["autorange"] = [float(v) for v in rng], False
            if p.logy:
                ya["type"], ya["exponentformat"] = "log", "power"
            layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = xa, ya
            if p.title:
                annotations.append({"text": html.escape(p.title), "xref": "paper", "yref": "paper",
                                    "x": lo + width / 2, "y": 1.0, "yanchor": "bottom",
                                    "showarrow": False, "font": {"size": 13}})
        if annotations:
            layout["annotations"] = annotations

        traces, dynamic = [], []
        for p in self.panels:
            if p.contour is None:
                continue
            c = p.contour
            z = np.log10(np.maximum(c["z"], c["z"][c["z"] > 0].min())) if c["log"] else c["z"]
            lo_z, hi_z = float(np.min(z)), float(np.max(z))
            traces.append({
                "type": "contour", "x": _round(c["x"], 5), "y": _round(c["y"], 5),
                "z": _round(z, 3), "showscale": False, "hoverinfo": "skip",
                "contours": {"coloring": "lines", "start": lo_z, "end": hi_z,
                             "size": (hi_z - lo_z) / c["levels"] or 1.0},
                "colorscale": [[0, "#bbbbbb"], [1, "#555555"]], "line": {"width": 0.7},
                "xaxis": f"x{'' if p.index == 0 else p.index + 1}",
                "yaxis": f"y{'' if p.index == 0 else p.index + 1}", "name": "level lines",
                "showlegend": False})
        keys = [c.key for c in self.controls]
        for t in self.traces:
            suffix = "" if t.panel.index == 0 else str(t.panel.index + 1)
            moving = bool(t.over) or t.reveal is not None
            x0, y0 = ([], []) if moving else (_round(c, self.digits) for c in (t.x, t.y))
            mode = "markers" if t.head else ("lines+markers" if t.markers else "lines")
            trace = {"type": "scatter", "mode": mode, "name": t.name, "x": x0, "y": y0,
                     "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                     "line": {"color": t.color, "width": 2, "dash": t.dash},
                     "marker": {"color": t.color, "size": 10 if t.head else 4},
                     "showlegend": bool(t.legend and not t.head), "legendgroup": t.name}
            index = len(traces)
            traces.append(trace)
            if moving:  # the script fills in x and y from the controls' initial settings
                flat = (int(np.prod(t.x.shape[:-1])), t.x.shape[-1])
                entry = {"trace": index, "over": [keys.index(c.key) for c in t.over],
                         "reveal": None if t.reveal is None else keys.index(t.reveal.key),
                         "head": t.head}
                for axis, values in (("x", t.x.reshape(flat)), ("y", t.y.reshape(flat))):
                    if (values == values[:1]).all() or np.isnan(values).all():
                        entry[axis + "1"] = _round(values[0], self.digits)   # one row for all
                    else:
                        entry[axis] = _round(values, self.digits)
                dynamic.append(entry)
        controls = [{"key": c.key, "label": c.label, "kind": c.kind, "labels": c.labels,
                     "values": c.values, "initial": c.initial, "play": c.play,
                     "interval": c.interval_ms} for c in self.controls]
        readout = None
        if self.readout is not None:
            template, over, table = self.readout
            readout = {"template": template, "over": [keys.index(c.key) for c in over],
                       "values": table}
        return {"name": self.name, "layout": layout, "traces": traces, "dynamic": dynamic,
                "controls": controls, "readout": readout}

    # ---- the still image --------------------------------------------------------------------
    def still(self):
        """The matplotlib figure of the controls' initial settings (the fallback image)."""
        from .. import plot

        fig, axes = plot.figure(ncols=max(len(self.panels), 1), width=4.6 * len(self.panels))
        axes = np.atleast_1d(axes)
        for p, ax in zip(self.panels, axes):
            if p.contour is not None:
                plot.contour(p.contour["objective"], p.xlim, p.ylim, ax=ax,
                             levels=p.contour["levels"], log=p.contour["log"],
                             resolution=len(p.contour["x"]))
            for t in (t for t in self.traces if t.panel is p):
                x, y = self._initial_points(t)
                if t.head:
                    ax.plot(x, y, "o", color=t.color, markersize=6, zorder=6)
                else:
                    ax.plot(x, y, color=t.color, linewidth=1.5, label=t.name if t.legend else None,
                            linestyle={"solid": "-", "dash": "--", "dot": ":"}.get(t.dash, "-"),
                            marker="o" if t.markers else None, markersize=2.5)
            if p.logy:
                ax.set_yscale("log")
            if p.xlim is not None:
                ax.set_xlim(p.xlim)
            if p.ylim is not None:
                ax.set_ylim(p.ylim)
            ax.set(xlabel=p.xlabel, ylabel=p.ylabel)
            if p.title:
                ax.set_title(p.title)
            if any(t.legend and not t.head for t in self.traces if t.panel is p):
                ax.legend(frameon=False, fontsize="small")
        if self.title:
            fig.suptitle(self.title)
        return fig

    def still_png(self, comment: str | None = None) -> bytes:
        """The still image as PNG bytes (`comment`, if given, goes into a tEXt chunk)."""
        import matplotlib.pyplot as plt

        fig = self.still()
        buffer = io.BytesIO()
        metadata = {"Software": None} | ({"Comment": comment} if comment is not None else {})
        fig.savefig(buffer, format="png", dpi=72, metadata=metadata)
        plt.close(fig)
        return buffer.getvalue()

    def _still_base64(self) -> str:
        # tests/test_chapters.py rejects "0x7f" (a memory address) in a notebook's text outputs,
        # and the still's base64 inside the HTML could hold it by chance: then change a comment
        for attempt in range(20):
            png = base64.b64encode(self.still_png(None if attempt == 0 else f"{attempt}"))
            if b"0x7f" not in png:
                return png.decode("ascii")
        raise RuntimeError("could not encode the still image without '0x7f'")

    # ---- markup ---------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """"site" when OPTLAB_FIGURE_STATIC is set, else "inline" when plotly.js is at hand,
        else "still" (module docstring)."""
        if os.environ.get(ENV_STATIC):
            return "site"
        return "inline" if _plotly_source() is not None else "still"

    def to_html(self, mode: str | None = None, static: str | None = None) -> str:
        """The figure's markup. `mode`: one of MODES (default: `mode`); `static`, for "site":
        the URL folder serving the scripts (default: $OPTLAB_FIGURE_STATIC)."""
        spec = self.spec()
        mode = self.mode if mode is None else mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        static = os.environ.get(ENV_STATIC) if static is None else static
        if mode == "site" and not static:
            raise ValueError(f"mode 'site' needs static (or ${ENV_STATIC}): the URL folder that "
                             "serves optlab-figures.js and plotly-cartesian.min.js")
        fid = f"optlab-fig-{self.name}"
        data = json.dumps(spec, separators=(",", ":"), allow_nan=False)
        data = data.replace("</", "<\\/")  # a JSON string may not close the <script> element
        png = self._still_base64()
        parts = [
            BEGIN.format(name=self.name),
            f'<div class="optlab-figure" id="{fid}" data-optlab-state="still" '
            f'style="max-width:100%;overflow-x:auto">',
            f'<img class="optlab-still" alt="{html.escape(self.alt)}" '
            f'src="data:image/png;base64,{png}" style="max-width:100%;height:auto">',
            '<div class="optlab-live" hidden></div>',
            f'<p class="optlab-caption"><em>{html.escape(self.caption)}</em></p>',
            f'<p class="optlab-note" style="font-size:small;color:#666">{_NOTE[mode]}</p>',
            f'<script type="application/json" class="optlab-data">{data}</script>',
            "</div>",
        ]
        if mode == "site":
            static = static.rstrip("/")
            src = html.escape(f"{static}/{SCRIPT}")
            plotly = json.dumps(f"{static}/{PLOTLY}")
            parts += [f'<script src="{src}"></script>',
                      f'<script>window.optlabFigures && optlabFigures.mount("{fid}", {plotly});'
                      "</script>"]
        elif mode == "inline":
            plotly = _plotly_source()
            parts += [f"<script>{_script_text()}</script>",
                      f"<script>if (!window.Plotly) {{\n{plotly}\n}}</script>",
                      f'<script>optlabFigures.mount("{fid}", null);</script>']
        parts.append(END)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def summary(self) -> str:
        controls = ", ".join(f"{c.label}: {c.size} {'frames' if c.play else 'values'}"
                             for c in self.controls)
        return (f"interactive figure {self.name!r}: {len(self.panels)} panel(s), "
                f"{len(self.traces)} trace(s), controls ({controls}); data for "
                f"{self.settings()} setting(s)")

    __repr__ = summary


_NOTE = {
    "site": "Interactive figure: move the sliders or press play; drag to zoom, double-click to "
            "reset. Without JavaScript a still image of the starting setting shows instead.",
    "inline": "Interactive figure: move the sliders or press play; drag to zoom, double-click "
              "to reset.",
    "still": "Still image only: this installation of optlab lacks its JavaScript files "
             "(optlab/interactive/static); the book's site has the interactive figure.",
}


def _script_text() -> str:
    return (STATIC / SCRIPT).read_text(encoding="utf-8").replace("</script", "<\\/script")


def _plotly_source() -> str | None:
    """plotly.js and our script for an inline figure, if this installation has them."""
    if not ((STATIC / PLOTLY).is_file() and (STATIC / SCRIPT).is_file()):
        return None
    return (STATIC / PLOTLY).read_text(encoding="utf-8").replace("</script", "<\\/script")
