"""One house style for the book's figures: contours, optimizer paths, loss curves, sweep heatmaps.

Every function draws on an Axes (a new one from ``figure()`` when ``ax`` is None) and returns it,
so panels compose: ``ax = contour(f, ...); paths({...}, ax=ax)``. Nothing here calls
``plt.show()``; notebooks display the figure themselves. matplotlib is imported on first use so
that ``import optlab`` stays light.
"""

from __future__ import annotations

import numpy as np

# Okabe and Ito's palette: distinguishable under the common colour-vision deficiencies
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
PANEL = (4.2, 3.4)  # inches per panel


def figure(ncols=1, nrows=1, width=None):
    """A figure with ``nrows × ncols`` styled panels; returns ``(fig, axes)`` like plt.subplots."""
    import matplotlib.pyplot as plt

    width = PANEL[0] * ncols if width is None else width
    height = width / ncols * PANEL[1] / PANEL[0] * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.set_prop_cycle(color=COLORS)
        ax.grid(True, alpha=0.25, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, (axes[0, 0] if axes.size == 1 else axes.squeeze())


def _axes(ax):
    return figure()[1] if ax is None else ax


def contour(objective, xlim, ylim, *, levels=30, log=True, ax=None, resolution=200):
    """Contour lines of a 2-D objective; log-spaced levels when it is non-negative on the window.

    `levels` is a count or the levels themselves. Minimisers inside the window are drawn as stars.
    """
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    X, Y = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    Z = np.asarray(objective.value(np.stack([X, Y], axis=-1)))
    if np.ndim(levels) == 1:
        levels = np.asarray(levels)
    elif log and Z.min() >= 0 and Z.max() > 0:
        top = Z.max()
        # levels crowd around the minimum where the valley is; a floor keeps them visible
        bottom = max(Z[Z > 0].min(), top * 1e-6)
        levels = np.geomspace(bottom, top, levels)
    else:
        levels = np.linspace(Z.min(), Z.max(), levels)
    # grey lines so that the coloured paths drawn on top stand out
    greys = plt.get_cmap("Greys")(np.linspace(0.3, 0.75, len(levels)))
    ax.contour(X, Y, Z, levels=levels, colors=greys, linewidths=0.7)
    for x, y in getattr(objective, "minimizers", np.empty((0, 2))):
        if xlim[0] <= x <= xlim[1] and ylim[0] <= y <= ylim[1]:
            ax.plot(x, y, marker="*", markersize=14, color="#000000", markeredgecolor="white",
                    linestyle="none", zorder=5)
    ax.set(xlim=xlim, ylim=ylim, xlabel="$x$", ylabel="$y$")
    return ax


def paths(trajectories, objective=None, xlim=None, ylim=None, *, ax=None, markevery=1):
    """Draw 2-D optimizer paths, one colour per label, on the contours of `objective` if given.

    Each value is a Trajectory or an ``xs`` array of shape (steps + 1, *batch, 2); every row of a
    batch is drawn in its label's colour. A diverged row ends in a cross.
    """
    runs = {label: (getattr(t, "xs", t), getattr(t, "diverged", False))
            for label, t in trajectories.items()}
    if xlim is None or ylim is None:
        points = np.concatenate([np.asarray(xs).reshape(-1, 2) for xs, _ in runs.values()])
        points = points[np.isfinite(points).all(-1)]
        lo, hi = points.min(0), points.max(0)
        pad = 0.1 * np.maximum(hi - lo, 1e-9)
        xlim = (lo[0] - pad[0], hi[0] + pad[0]) if xlim is None else xlim
        ylim = (lo[1] - pad[1], hi[1] + pad[1]) if ylim is None else ylim
    ax = contour(objective, xlim, ylim, ax=ax) if objective is not None else _axes(ax)
    for i, (label, (xs, diverged)) in enumerate(runs.items()):
        xs = np.asarray(xs)
        rows = xs.reshape(xs.shape[0], -1, 2)
        diverged = np.broadcast_to(diverged, rows.shape[1])
        color = COLORS[i % len(COLORS)]
        for r in range(rows.shape[1]):
            ax.plot(rows[:, r, 0], rows[:, r, 1], marker="o", markersize=2.5, linewidth=1.2,
                    color=color, markevery=markevery, label=label if r == 0 else None)
            if diverged[r]:
                ax.plot(*rows[-1, r], marker="x", markersize=9, color=color, mew=2)
    ax.set(xlim=xlim, ylim=ylim)
    ax.legend(frameon=False, fontsize="small")
    return ax


def curves(series, *, ylabel, logy=True, xlabel="step", ax=None):
    """Loss-versus-step curves, one per label (each value a 1-D array)."""
    ax = _axes(ax)
    for i, (label, y) in enumerate(series.items()):
        ax.plot(np.asarray(y), label=label, linewidth=1.5, color=COLORS[i % len(COLORS)])
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(frameon=False, fontsize="small")
    return ax


def heatmap(values, xticks, yticks, *, xlabel, ylabel, log=True, ax=None, cbar_label=None,
            max_ticks=6):
    """A sweep result: ``values[i, j]`` at (xticks[j], yticks[i]); NaN or inf cells are grey.

    Use it for a grid of hyperparameters, e.g. final loss against learning rate and momentum.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    ax = _axes(ax)
    values = np.ma.masked_invalid(np.asarray(values, dtype=float))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#BBBBBB")
    norm = None
    if log and values.count() and values.min() > 0:
        norm = LogNorm(values.min(), values.max())
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, norm=norm,
                      interpolation="nearest")
    for set_ticks, set_labels, ticks in ((ax.set_xticks, ax.set_xticklabels, xticks),
                                         (ax.set_yticks, ax.set_yticklabels, yticks)):
        where = np.unique(np.linspace(0, len(ticks) - 1, min(len(ticks), max_ticks)).round()
                          .astype(int))
        set_ticks(where)
        set_labels([_label(ticks[k]) for k in where])
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label=cbar_label)
    return ax


def _label(tick):
    return f"{tick:.3g}" if isinstance(tick, (int, float, np.number)) else str(tick)


def lines(x, series, *, xlabel, ylabel, logx=False, logy=False, ax=None, styles=None):
    """Functions of one variable sharing the x values `x`, one line per label.

    Use it for quantities against a hyperparameter, e.g. a convergence factor against the step
    size. `styles` maps a label to extra ``ax.plot`` keywords (``{"max": {"linestyle": "--"}}``).
    """
    ax = _axes(ax)
    styles = styles or {}
    for i, (label, y) in enumerate(series.items()):
        kwargs = {"linewidth": 1.5, "color": COLORS[i % len(COLORS)], **styles.get(label, {})}
        ax.plot(np.asarray(x), np.asarray(y), label=label, **kwargs)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(frameon=False, fontsize="small")
    return ax
