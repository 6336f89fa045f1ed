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
import matplotlib.patches

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cebench import asvconf  # noqa: E402
from cebench.publish.conclusions import interval  # noqa: E402
from cebench.results import load as results  # noqa: E402

#: A verdict's colour: red or green only for a change the rule confirmed; a difference one
#: run per side cannot judge ('inconclusive') is grey like 'unchanged'.
VERDICT_COLOURS = {"regression": "#c0392b", "shared": "#e67e22", "failed": "#6c3483",
                   "inconclusive": "#a0a4a8", "improvement": "#27ae60", "unchanged": "#7f8c8d",
                   "missing": "#d5d8dc"}
#: At most this many rows (or cells) of a table are shown before it is folded.
FOLD_ROWS = 25
FOLD_CELLS = 150


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


def _display(obj) -> bool:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    display(obj)
    return True


def conclusion(lines: list[str], rules: list[str] = ()) -> None:
    """The notebook's first output: its conclusion (Markdown lines), the rules beside it."""
    text = "**Conclusion.**\n\n" + "\n\n".join(lines)
    if rules:
        text += "\n\n" + "\n".join(f"<small>{r}</small><br>" for r in rules)
    try:
        from IPython.display import Markdown
    except ImportError:
        return
    _display(Markdown(text))


def table_html(frame: pd.DataFrame, title: str, fold_after: int = FOLD_ROWS,
               fold: bool | None = None) -> str:
    """A table with a title as HTML; folded (a ``<details>``) when it has more than
    ``fold_after`` rows or ``fold`` says so."""
    import html as html_lib

    body = frame.to_html(border=0, na_rep="", max_rows=None)
    folded = (len(frame) > fold_after or frame.size > FOLD_CELLS) if fold is None else fold
    return (f"<details><summary>{html_lib.escape(title)} ({len(frame)} rows)</summary>{body}"
            "</details>" if folded else f"<p><strong>{html_lib.escape(title)}</strong></p>{body}")


def show_table(frame: pd.DataFrame, title: str, fold_after: int = FOLD_ROWS,
               fold: bool | None = None) -> None:
    """Displays :func:`table_html` in a notebook."""
    try:
        from IPython.display import HTML
    except ImportError:
        return
    _display(HTML(table_html(frame, title, fold_after, fold)))


def runs_table(df: pd.DataFrame) -> pd.DataFrame:
    """The runs behind a page, for its end: machine, torch version in release order, short
    commit, environment (a local interpreter's path left out), results file, date, counts."""
    table = results.runs(df)
    if table.empty:
        return table
    env = table["env_name"].astype(str).map(
        lambda e: "existing (a local Python)" if e.startswith("existing-") else e)
    file = [_replicate_label(f) for f in table["file"]]
    out = table.assign(commit=table["commit"].astype(str).str[:8], env_name=env, run=file,
                       date=table["date"].astype(str).str[:16])
    return out[["machine", "torch_version", "commit", "env_name", "run", "date", "ok",
                "skipped", "failed"]].reset_index(drop=True)


def _replicate_label(name) -> str:
    import re

    match = re.search(r"-r(\d+)\.json$", str(name))
    return f"replicate {match.group(1)}" if match else "replicate 1"


def show(fig, name: str) -> Path | None:
    """:func:`save`, then the figure in the notebook at this point (before what the cell
    shows next), then closed."""
    path = save(fig, name)
    if fig is not None:
        _display(fig)
        plt.close(fig)
    return path


def save(fig, name: str, directory: Path | None = None) -> Path | None:
    """Write ``fig`` as ``<name>.png`` in the out folder; None (nothing written) for None."""
    if fig is None:
        return None
    path = (directory or out_dir()) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _label(row) -> str:
    """'track_instructions_forward small-seg contiguous mean none': the benchmark's own
    name and its parameter values."""
    name = getattr(row, "short_name_base", None) or getattr(row, "short_name", "")
    values = [p.split("=", 1)[-1] for p in str(row.params).split(", ")]
    return f"{str(name).rsplit('.', 1)[-1]} {' '.join(values)}".strip()


# --- regressions -------------------------------------------------------------------------


def ratio_forest(table: pd.DataFrame, n: int = 30, title: str = ""):
    """Ratio candidate/baseline with its 99 % interval for the ``n`` largest changes."""
    table = table[np.isfinite(table["ratio"])] if len(table) else table
    if table.empty:
        return None
    top = table.reindex(table["worse_by"].abs().sort_values(ascending=False).index).head(n)
    top = top.iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.26 * len(top) + 1.4))
    y = np.arange(len(top))
    low = (top["ratio"] - top["ratio_low"]).clip(lower=0).fillna(0)
    high = (top["ratio_high"] - top["ratio"]).clip(lower=0).fillna(0)
    colours = [VERDICT_COLOURS.get(v, "k") for v in top["verdict"]]
    ax.errorbar(top["ratio"], y, xerr=[low, high], fmt="none", ecolor="#999", lw=1)
    ax.scatter(top["ratio"], y, c=colours, zorder=3, s=18)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_yticks(y, [_label(r) for r in top.itertuples()], fontsize=7)
    ax.set_xlabel("candidate / baseline (log; 1 = no change; bars: interval at the "
                  "family-wise level; none with one run per side)")
    ax.set_title(title or "Largest changes")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v)
               for v, c in VERDICT_COLOURS.items() if v in set(top["verdict"])]
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _plain_log_ticks(axis) -> None:
    """Tick labels of a log axis as plain numbers (0.95, 1, 1.05), no 10^x, no minor labels."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    axis.set_major_locator(MaxNLocator(7))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}"))
    axis.set_minor_formatter(NullFormatter())


def run_shifts(shifts: pd.DataFrame, title: str = ""):
    """Each replicate run's shift (median residual of its timings, in %), in run order:
    the run-to-run noise a shared change must exceed."""
    if shifts.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, 2.8))
    labels = [f"{v} @ {str(c)[:8]}" for v, c in zip(shifts["torch_version"], shifts["commit"])]
    pct = np.expm1(shifts["shift"].to_numpy()) * 100
    ax.bar(np.arange(len(pct)), pct, color="#8c959f")  # noise of the same code: no verdict
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
                  colour_label: str = "log2(ratio): red = more"):
    """Heatmaps of the geometric-mean ratio, ``row`` x ``col``, one panel per ``facet``.

    A comparison table (with compare's ``verdict`` column) colours a cell by its verdicts
    only: red when a benchmark in it regressed, green when one improved and none
    regressed, grey otherwise (unchanged, or a difference that one run per side cannot
    judge); every cell shows its ratio. Without verdicts (a measured ratio such as
    weighted / unweighted instructions) the colour is the ratio itself."""
    grids = ratio_grid(table, row, col, facet)
    if not grids:
        return None
    judged = "verdict" in table.columns
    fig, axes = plt.subplots(1, len(grids), figsize=(3.6 * len(grids) + 1.2, 3.2), squeeze=False)
    values = np.concatenate([g.to_numpy().ravel() for g in grids.values()])
    values = values[np.isfinite(values) & (values > 0)]
    span = max(0.05, float(np.abs(np.log2(values)).max())) if values.size else 0.05
    for ax, (name, grid) in zip(axes[0], grids.items()):
        if judged:
            part = table[table[facet].astype(str) == name]
            colours = _verdict_cells(part, row, col, grid)
            ax.imshow(colours, aspect="auto")
        else:
            image = ax.imshow(np.log2(grid.to_numpy(dtype=float)), cmap="RdYlGn_r",
                              vmin=-span, vmax=span, aspect="auto")
        ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=8)
        ax.set_title(f"{facet} = {name}", fontsize=9)
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
    if judged:
        handles = [matplotlib.patches.Patch(color=VERDICT_COLOURS[v], label=label) for v, label in
                   (("regression", "a benchmark regressed"), ("improvement", "improved"),
                    ("inconclusive", "no confirmed change (or one run per side)"))]
        fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False)
        fig.subplots_adjust(bottom=0.32, top=0.82)
    else:
        fig.colorbar(image, ax=axes[0].tolist(), label=colour_label)
    fig.suptitle(title or "Geometric-mean ratio candidate / baseline", fontsize=10)
    return fig


def _verdict_cells(part: pd.DataFrame, row: str, col: str, grid: pd.DataFrame) -> np.ndarray:
    """An RGB image of ``grid``'s shape: each cell's verdict colour (see ratio_heatmap)."""
    from matplotlib.colors import to_rgb

    image = np.ones((*grid.shape, 3))
    for i, r in enumerate(grid.index):
        for j, c in enumerate(grid.columns):
            said = set(part.loc[(part[row] == r) & (part[col] == c), "verdict"])
            verdict = ("regression" if said & {"regression", "shared"} else
                       "improvement" if "improvement" in said else "inconclusive")
            if said:
                image[i, j] = to_rgb(VERDICT_COLOURS[verdict])
                if verdict == "inconclusive":
                    image[i, j] = 0.5 + 0.5 * image[i, j]  # a light grey: the text stays legible
    return image


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
    ax.legend(title=hue, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
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
    ax.legend(title=hue, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
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
    ax.legend(fontsize=7, title="torch", loc="upper left", bbox_to_anchor=(1.01, 1))
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
    """Relative error against float64 per dtype (largest over reductions), one bar per
    weighting, one panel per quantity (loss, gradient). Pass one torch version's rows."""
    if frame.empty:
        return None
    quantities = sorted(frame["short_name"].unique())
    fig, axes = plt.subplots(1, len(quantities), figsize=(5 * len(quantities) + 1.5, 3.4),
                             squeeze=False, sharey=True)
    for ax, name in zip(axes[0], quantities):
        part = frame[frame["short_name"] == name]
        table = part.pivot_table(index="dtype", columns="weighting", values="value",
                                 aggfunc="max")
        table.clip(lower=1e-12).plot.bar(ax=ax, rot=20, logy=True, width=0.8, legend=False)
        ax.set_title(f"{name.split('.')[-1]} (largest over reductions)", fontsize=9)
        ax.set_ylabel("relative error vs float64")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="weighting", fontsize=7, loc="center right")
    fig.suptitle(title or "Accuracy against the float64 reference", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    return fig


def finite_or_none(x) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


# --- across releases ---------------------------------------------------------------------


#: Parameters that may split a benchmark's series into panels and lines, in this order.
SERIES_PARAMS = ("family", "dtype", "reduction", "layout", "weighting", "ignore_fraction",
                 "label_smoothing")
#: Lines per panel before another parameter is made a panel axis.
MAX_LINES = 6


def split_params(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(panel parameters, line parameters)`` for small multiples of ``rows``: the
    parameters that vary, those with most values as panels (at most two) until each panel
    holds at most :data:`MAX_LINES` lines."""
    varying = sorted((p for p in SERIES_PARAMS if p in rows and rows[p].nunique() > 1),
                     key=lambda p: -rows[p].nunique())
    panels = []
    while varying and len(panels) < 2:
        lines = int(np.prod([rows[p].nunique() for p in varying])) if varying else 1
        if lines <= MAX_LINES:
            break
        panels.append(varying.pop(0))
    return panels, varying


def release_history(series: pd.DataFrame, changes: pd.DataFrame, benchmark: str,
                    facet: str | None = None, logy: bool = False):
    """One benchmark against torch release (release order), as small multiples: one panel
    per value of the parameters with most values (:func:`split_params`), a few lines per
    panel, one legend for the figure.

    ``series``: :func:`cebench.results.releases.history_series`. ``changes``: the release
    steps' verdicts (:func:`cebench.publish.verdicts.release_changes`); changes the rule
    confirmed are marked at the later release (regression ▲ red, improvement ▼ green);
    differences it could not judge are not marked. ``facet`` forces the panel parameter.
    """
    rows = series[series["benchmark"] == benchmark]
    if rows.empty or rows["torch_version"].nunique() < 2:
        return None
    versions = sorted(series["torch_version"].dropna().unique(), key=results.version_key)
    position = {v: i for i, v in enumerate(versions)}
    panel_params, line_params = split_params(rows)
    if facet is not None and facet in rows:
        panel_params = [facet]
        line_params = [p for p in SERIES_PARAMS if p in rows and p != facet
                       and rows[p].nunique() > 1]
    panels = ([key for key, _ in rows.groupby(panel_params, sort=True)] if panel_params
              else [None])
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols + 0.6, 2.3 * nrows + 1.0),
                             squeeze=False, sharex=True)
    marks = changes[(changes["benchmark"] == benchmark)
                    & changes["verdict"].isin(["regression", "shared", "improvement"])] \
        if len(changes) else changes
    styles = {}
    for ax, panel in zip(axes.flat, panels):
        key = panel if isinstance(panel, tuple) else (panel,)
        mask = np.ones(len(rows), dtype=bool)
        for p, v in zip(panel_params, key):
            mask &= (rows[p] == v).to_numpy()
        part = rows[mask]
        for label, line in (part.groupby(line_params, sort=True) if line_params
                            else [((benchmark.split(".")[-1],), part)]):
            label = ", ".join(map(str, label if isinstance(label, tuple) else (label,)))
            colour = styles.setdefault(label, f"C{len(styles) % 10}")
            line = line.sort_values("release_index")
            ax.plot(line["torch_version"].map(position), line["value"], marker="o",
                    markersize=2.5, linewidth=1, color=colour, label=label)
        here = marks
        for p, v in zip(panel_params, key):
            here = here[here[p] == v] if len(here) and p in here else here
        for verdict, symbol, colour in (("regression", "^", "regression"),
                                        ("shared", "^", "shared"),
                                        ("improvement", "v", "improvement")):
            chosen = here[here["verdict"] == verdict] if len(here) else here
            if len(chosen):
                ax.scatter(chosen["candidate_version"].map(position), chosen["value_cand"],
                           marker=symbol, s=40, color=VERDICT_COLOURS[colour], zorder=5,
                           label=f"{verdict} vs previous release")
        if logy:
            ax.set_yscale("log")
        ax.set_title(", ".join(f"{p}={v}" for p, v in zip(panel_params, key))
                     if panel_params else "", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xticks(range(len(versions)), versions, rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("torch release", fontsize=8)
    unit = rows["unit"].dropna().iloc[0] if rows["unit"].notna().any() else ""
    for ax in axes[:, 0]:
        ax.set_ylabel(unit, fontsize=8)
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
    fig.legend(list(handles.values()), list(handles), loc="lower center",
               ncol=min(4, len(handles)), fontsize=7, frameon=False,
               title=", ".join(line_params) or None, title_fontsize=7,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(benchmark.split(".", 1)[-1], fontsize=10)
    legend_rows = math.ceil(len(handles) / 4)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * legend_rows, 1, 1))
    return fig
