"""Figures for the analysis notebooks: each function takes tidy frames, returns a Figure.

The frames come from :mod:`cebench.results.load` (``load`` and its queries) and
:mod:`cebench.results.compare` (``compare_frames`` / ``compare_versions``). Notebooks stay thin:
load, call one of these, :func:`save`. When there is nothing to plot, functions return
None and :func:`note` says so (a Markdown line in a notebook, a print elsewhere).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cebench import asvconf  # noqa: E402
from cebench.publish.conclusions import interval  # noqa: E402
from cebench.results import load as results  # noqa: E402

VERDICT_COLOURS = {"regression": "#c0392b", "shared": "#e67e22", "failed": "#6c3483",
                   "inconclusive": "#8e44ad",
                   "improvement": "#27ae60", "unchanged": "#7f8c8d", "missing": "#bdc3c7"}


def _project_path(relative: str) -> Path:
    """``relative`` inside the project (see :func:`cebench.asvconf.find_project_root`),
    whichever folder of it the notebook runs in; relative to here outside a project."""
    root = asvconf.find_project_root()
    return root / relative if root else Path(relative)


def results_dir() -> Path:
    """``CEBENCH_RESULTS``, default the project's ``results/``."""
    return Path(os.environ.get("CEBENCH_RESULTS") or _project_path("results"))


def out_dir() -> Path:
    """``CEBENCH_ANALYSIS_OUT`` (default the project's ``html/analysis``), created."""
    path = Path(os.environ.get("CEBENCH_ANALYSIS_OUT") or _project_path("html/analysis"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def note(text: str) -> str:
    """Say something about the data (e.g. that some is absent) without failing."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(f"> **Note.** {text}"))
            return text
    except ImportError:
        pass
    warnings.warn(f"Note: {text}", stacklevel=2)
    return text


def save(fig, name: str, directory: Path | None = None) -> Path | None:
    """Write ``fig`` as ``<name>.png`` in the out folder; None (nothing written) for None."""
    if fig is None:
        return None
    path = (directory or out_dir()) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _label(row) -> str:
    name = getattr(row, "short_name_base", None) or getattr(row, "short_name", "")
    return f"{name}({row.params})"


# --- regressions -------------------------------------------------------------------------


def ratio_forest(table: pd.DataFrame, n: int = 30, title: str = ""):
    """Ratio candidate/baseline with its 99 % interval for the ``n`` largest changes."""
    table = table[np.isfinite(table["ratio"])] if len(table) else table
    if table.empty:
        return None
    top = table.reindex(table["worse_by"].abs().sort_values(ascending=False).index).head(n)
    top = top.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(top) + 1.2))
    y = np.arange(len(top))
    low = (top["ratio"] - top["ratio_low"]).clip(lower=0).fillna(0)
    high = (top["ratio_high"] - top["ratio"]).clip(lower=0).fillna(0)
    colours = [VERDICT_COLOURS.get(v, "k") for v in top["verdict"]]
    ax.errorbar(top["ratio"], y, xerr=[low, high], fmt="none", ecolor="#999", lw=1)
    ax.scatter(top["ratio"], y, c=colours, zorder=3, s=18)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, [_label(r) for r in top.itertuples()], fontsize=7)
    ax.set_xlabel("candidate / baseline (log; 1 = no change; bars: interval at the "
                  "family-wise level; none with one run per side)")
    ax.set_title(title or "Largest changes")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v)
               for v, c in VERDICT_COLOURS.items() if v in set(top["verdict"])]
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def run_shifts(shifts: pd.DataFrame, title: str = ""):
    """Each replicate run's shift (median residual of its timings, in %), in run order:
    the run-to-run noise a shared change must exceed."""
    if shifts.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, 2.8))
    labels = [f"{v} @ {str(c)[:8]}" for v, c in zip(shifts["torch_version"], shifts["commit"])]
    pct = np.expm1(shifts["shift"].to_numpy()) * 100
    ax.bar(np.arange(len(pct)), pct, color=["#c0392b" if p > 0 else "#2c7fb8" for p in pct])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(pct)), [f"{i + 1}" for i in range(len(pct))], fontsize=7)
    ax.set_xlabel("replicate run, in the order recorded (" + ", ".join(sorted(set(labels))) + ")")
    ax.set_ylabel("run shift (% slower than its group)")
    ax.set_title(title or "Run shifts")
    fig.tight_layout()
    return fig


def ratio_grid(table: pd.DataFrame, row: str = "reduction", col: str = "dtype",
               facet: str = "weighting") -> dict[str, pd.DataFrame]:
    """Geometric-mean ratio per ``row`` x ``col`` cell, one grid per ``facet`` value."""
    needed = {row, col, facet, "ratio"}
    if table.empty or not needed <= set(table.columns):
        return {}
    grids = {}
    for value, part in table.dropna(subset=[row, col, facet]).groupby(facet, sort=True):
        grid = part.pivot_table(index=row, columns=col, values="ratio",
                                aggfunc=results.geometric_mean)
        grids[str(value)] = grid
    return grids


def ratio_heatmap(table: pd.DataFrame, row: str = "reduction", col: str = "dtype",
                  facet: str = "weighting", title: str = "",
                  colour_label: str = "log2(ratio): red = slower"):
    """Heatmaps of the geometric-mean ratio, ``row`` x ``col``, one panel per ``facet``."""
    grids = ratio_grid(table, row, col, facet)
    if not grids:
        return None
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids) + 1, 3.4), squeeze=False)
    values = np.concatenate([g.to_numpy().ravel() for g in grids.values()])
    values = values[np.isfinite(values) & (values > 0)]
    span = max(0.05, float(np.abs(np.log2(values)).max())) if values.size else 0.05
    for ax, (name, grid) in zip(axes[0], grids.items()):
        data = np.log2(grid.to_numpy(dtype=float))
        image = ax.imshow(data, cmap="RdYlGn_r", vmin=-span, vmax=span, aspect="auto")
        ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=8)
        ax.set_title(f"{facet} = {name}", fontsize=9)
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), label=colour_label)
    fig.suptitle(title or "Geometric-mean ratio candidate / baseline", fontsize=10)
    return fig


# --- weight cost --------------------------------------------------------------------------


def grouped_bars(frame: pd.DataFrame, x: str, hue: str, value: str = "value",
                 title: str = "", ylabel: str = "", reference: float | None = None,
                 log: bool = False, agg=None):
    """Bars of ``agg(value)`` (default: geometric mean) per ``x``, one colour per ``hue``.

    With a ``reference`` (e.g. 1.0 for a ratio) the bars show the percent difference from
    it, starting at 0, with the 95 % interval of the geometric mean over the rows of
    each bar (:func:`cebench.publish.conclusions.interval`) as error bars."""
    if frame.empty or x not in frame or hue not in frame:
        return None
    frame = frame.dropna(subset=[x, hue, value])
    if frame.empty:
        return None
    if reference is not None and agg is None:
        return _difference_bars(frame, x, hue, value, reference, title, ylabel)
    table = frame.pivot_table(index=x, columns=hue, values=value,
                              aggfunc=agg or results.geometric_mean)
    if hue == "torch_version":
        table = table[sorted(table.columns, key=results.version_key)]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(table) * max(1, table.shape[1] / 2)), 3.6))
    table.plot.bar(ax=ax, rot=30, width=0.8, logy=log)
    if reference is not None:
        ax.axhline(reference, color="k", lw=0.8)
    ax.set_ylabel(ylabel or value)
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.legend(title=hue, fontsize=7)
    fig.tight_layout()
    return fig


def _difference_bars(frame, x, hue, value, reference, title, ylabel):
    """Percent difference of each group's geometric mean from ``reference``, 95 % intervals."""
    xs = sorted(frame[x].unique(), key=str)
    hues = sorted(frame[hue].unique(), key=results.version_key if hue == "torch_version" else str)
    width = 0.8 / len(hues)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(xs) * max(1, len(hues) / 2)), 3.6))
    for j, h in enumerate(hues):
        centres, lows, highs = [], [], []
        for xv in xs:
            values = frame[(frame[x] == xv) & (frame[hue] == h)][value] / reference
            c, lo, hi = interval(values)
            centres.append((c - 1) * 100)
            lows.append((c - lo) * 100 if np.isfinite(lo) else 0.0)
            highs.append((hi - c) * 100 if np.isfinite(hi) else 0.0)
        positions = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
        ax.bar(positions, centres, width, yerr=[lows, highs], capsize=2, label=str(h))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs], rotation=30)
    ax.set_ylabel(f"{ylabel or value}: % vs {reference:g}")
    ax.set_xlabel(x)
    ax.set_title(title + "\n(bars: 95 % interval over the cases of each bar)", fontsize=9)
    ax.legend(title=hue, fontsize=7)
    fig.tight_layout()
    return fig


# --- instruction counts -------------------------------------------------------------------


def instructions_by_version(counts: pd.DataFrame, title: str = ""):
    """Instructions per call of each case (rows), one marker per torch version (log x).

    ``counts`` is :func:`cebench.results.load.instruction_counts` of one pass."""
    if counts.empty or "case" not in counts:
        return None
    table = counts.pivot_table(index="case", columns="torch_version", values="value",
                               aggfunc="median")
    table = table[sorted(table.columns, key=results.version_key)].sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(8, 0.2 * len(table) + 1.4))
    y = np.arange(len(table))
    for i, version in enumerate(table.columns):
        ax.scatter(table[version], y, s=16, marker="os^vD"[i % 5], label=f"torch {version}",
                   zorder=3)
    ax.set_xscale("log")
    ax.set_yticks(y, table.index, fontsize=6)
    ax.grid(axis="x", which="both", lw=0.3)
    ax.set_xlabel("instructions per call (callgrind, one CPU thread; log)")
    ax.set_title(title or "Instructions per call by torch version")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- memory and bandwidth -------------------------------------------------------------


def bandwidth_roofline(bandwidth: pd.DataFrame, fraction: pd.DataFrame,
                       ceilings: pd.Series | None = None, title: str = ""):
    """Fraction of the measured peak copy bandwidth each case reaches, per torch version.

    ``ceilings`` (same index as a case label) marks the most eager torch can reach: the
    case's minimum bytes over the bytes eager kernels move (cebench.measure.roofline).
    """
    if fraction.empty:
        return None
    frame = fraction.assign(case=[f"{r.params} {r['pass']}" for _, r in fraction.iterrows()])
    table = frame.pivot_table(index="case", columns="torch_version", values="value",
                              aggfunc="median")
    table = table[sorted(table.columns, key=results.version_key)]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(table) + 1.5))
    table.plot.barh(ax=ax, width=0.8)
    if ceilings is not None:
        ys = [i for i, case in enumerate(table.index) if case in ceilings.index]
        ax.scatter([ceilings[table.index[i]] for i in ys], ys, marker="|", s=200, c="k",
                   zorder=3, label="eager ceiling (min / eager bytes)")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("achieved / measured peak copy bandwidth")
    ax.set_title(title or "Bandwidth against the roofline")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def eager_ceilings(fraction: pd.DataFrame, device: str) -> pd.Series:
    """Per case label (as :func:`bandwidth_roofline`): minimum / eager bytes (roofline)."""
    from cebench.measure import roofline
    from cebench.grid.cases import Case

    out = {}
    for _, r in fraction.drop_duplicates(["params", "pass"]).iterrows():
        fields = {k: r[k] for k in ("family", "dtype", "reduction", "weighting", "layout")
                  if k in r and isinstance(r[k], str)}
        try:
            case = Case(**fields)
            out[f"{r.params} {r['pass']}"] = (roofline.minimum_bytes(case, r["pass"])
                                              / roofline.eager_bytes(case, r["pass"], device))
        except (ValueError, KeyError, TypeError):
            continue
    return pd.Series(out, dtype=float)


# --- accuracy -------------------------------------------------------------------------------


def accuracy_bars(frame: pd.DataFrame, title: str = ""):
    """Relative error against float64, per dtype, one panel per quantity (loss, grad)."""
    if frame.empty:
        return None
    quantities = sorted(frame["short_name"].unique())
    fig, axes = plt.subplots(1, len(quantities), figsize=(6 * len(quantities), 3.8),
                             squeeze=False, sharey=True)
    for ax, name in zip(axes[0], quantities):
        part = frame[frame["short_name"] == name]
        table = part.pivot_table(index="dtype", columns="torch_version", values="value",
                                 aggfunc="max")
        table = table[sorted(table.columns, key=results.version_key)]
        table.clip(lower=1e-12).plot.bar(ax=ax, rot=20, logy=True, width=0.8)
        ax.set_title(f"{name.split('.')[-1]} (max over reduction, weighting)", fontsize=9)
        ax.set_ylabel("relative error vs float64")
        ax.legend(title="torch", fontsize=7)
    fig.suptitle(title or "Accuracy against the float64 reference", fontsize=10)
    fig.tight_layout()
    return fig


def finite_or_none(x) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


# --- across releases ---------------------------------------------------------------------


def release_history(series: pd.DataFrame, changes: pd.DataFrame, benchmark: str,
                    facet: str = "family", logy: bool = False):
    """One benchmark against torch release (release order), one panel per ``facet`` value.

    ``series``: :func:`cebench.results.releases.history_series`; one line per parameter
    combination. ``changes``: :func:`cebench.results.releases.consecutive_changes`;
    regressions (red ▲) and improvements (green ▼) are marked at the later release of
    their pair, at the value compared.
    """
    rows = series[series["benchmark"] == benchmark]
    if rows.empty or rows["torch_version"].nunique() < 2:
        return None
    versions = sorted(series["torch_version"].dropna().unique(), key=results.version_key)
    position = {v: i for i, v in enumerate(versions)}
    panels = (sorted(rows[facet].dropna().unique(), key=str)
              if facet in rows and rows[facet].notna().any() else [None])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    marks = changes[(changes["benchmark"] == benchmark)
                    & changes["verdict"].isin(["regression", "improvement"])] \
        if len(changes) else changes
    for ax, panel in zip(axes[0], panels):
        part = rows if panel is None else rows[rows[facet] == panel]
        for params, line in part.groupby("params"):
            line = line.sort_values("release_index")
            label = params if panel is None else ", ".join(
                p for p in str(params).split(", ") if p != str(panel))
            ax.plot(line["torch_version"].map(position), line["value"], marker="o",
                    markersize=3, linewidth=1, label=label or benchmark.split(".")[-1])
        here = marks if panel is None or not len(marks) else marks[marks[facet] == panel]
        for verdict, symbol in (("regression", "^"), ("improvement", "v")):
            chosen = here[here["verdict"] == verdict] if len(here) else here
            if len(chosen):
                ax.scatter(chosen["candidate_version"].map(position), chosen["value_cand"],
                           marker=symbol, s=70, color=VERDICT_COLOURS[verdict], zorder=5,
                           label=f"{verdict} vs previous release")
        ax.set_xticks(range(len(versions)), versions, rotation=30, fontsize=8)
        ax.set_xlabel("torch release")
        unit = part["unit"].dropna().iloc[0] if part["unit"].notna().any() else ""
        ax.set_ylabel(unit)
        if logy:
            ax.set_yscale("log")
        ax.set_title(f"{facet} = {panel}" if panel is not None else "", fontsize=9)
        ax.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.32))
    fig.suptitle(benchmark.split(".", 1)[-1], fontsize=10)
    fig.tight_layout()
    return fig
