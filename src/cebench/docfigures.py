"""Every figure in the docs, generated: from the committed results, measurement records and
the code's settings, never typed.

A figure in a doc sits between two markers that name it (and its arguments):

    the significance level is <!-- fig:alpha -->0.01<!-- /fig -->
    <!-- fig:timer setting=budget_s -->1<!-- /fig --> s

``cebench docs --write`` recomputes every marked figure and rewrites the docs;
``cebench docs`` (and tests/test_docs.py) fails when a doc holds a figure that differs from
what its source gives now. Each figure's function below says where it comes from.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import statistics
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The docs whose figures are generated (relative to the project).
DOCS = ("README.md", "docs/measurement.md", "docs/ci.md", "docs/testing.md", "docs/gpu-run.md")
MARK = re.compile(r"<!-- fig:(?P<name>[\w.]+)(?P<args>(?: [\w]+=[^\s>]+)*) -->"
                  r"(?P<value>.*?)<!-- /fig -->", re.S)
#: The machine whose committed results and records the docs quote.
MACHINE = "cpu-amd-epyc-2c"
FIGURES: dict = {}


def figure(name: str):
    def register(fn):
        FIGURES[name] = fn
        return fn
    return register


class Sources:
    """What the figures are computed from, each read once: the project's results, its
    records (docs/data, docs/*.csv, tests/data), its settings."""

    def __init__(self, root: Path = REPO):
        self.root = Path(root)

    @functools.cached_property
    def df(self):
        from cebench.results import load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load.load(self.root / "results")

    def json(self, relative: str):
        return json.loads((self.root / relative).read_text())


# --- formatting -------------------------------------------------------------------------------


def pct(x: float, digits: int = 0) -> str:
    return f"{x * 100:.{digits}f} %"


def grouped(n: float) -> str:
    """1 234 567 (thin groups, as the docs write large counts)."""
    return f"{n:,.0f}".replace(",", " ")


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n" + "\n".join(lines) + "\n"


# --- the rules and the code's settings --------------------------------------------------------


@figure("alpha")
def _alpha(s, **_):
    """The time rule's family-wise error (cebench.results.rules.DEFAULT_ALPHA)."""
    from cebench.results import rules

    return f"{rules.DEFAULT_ALPHA:g}"


@figure("threshold")
def _threshold(s, **_):
    from cebench.results import rules

    return pct(rules.DEFAULT_THRESHOLD)


@figure("count_threshold")
def _count_threshold(s, **_):
    from cebench.results import rules

    return pct(rules.COUNT_THRESHOLD)


@figure("timer")
def _timer(s, setting: str, **_):
    """A default of cebench.measure.timing.measure (or StopRule's hard timeout factor)."""
    from cebench.measure import timing

    if setting == "timeout_factor":
        rule = timing.StopRule()
        return f"{rule.hard_timeout_s / rule.budget_s:g}"
    if setting == "throttle":
        return pct(timing.THROTTLE_THRESHOLD)
    value = inspect.signature(timing.measure).parameters[setting].default
    if setting in ("target_rel_iqr", "warmup_tolerance"):
        return pct(value)
    return f"{value:g}"


@figure("copy_bytes")
def _copy_bytes(s, device: str, **_):
    from cebench.measure import roofline

    n = roofline.default_copy_bytes(device)
    return f"{n // 2**30} GiB" if n >= 2**30 else f"{n // 2**20} MiB"


def _case(args: dict):
    from cebench.grid.cases import Case

    fields = {k: (float(v) if k in ("ignore_fraction", "label_smoothing") else v)
              for k, v in args.items() if k not in ("pass", "device", "dispatch")}
    return Case(**fields)


@figure("roofline.minimum")
def _minimum(s, **args):
    """roofline.minimum_bytes of a case and pass."""
    from cebench.measure import roofline

    return grouped(roofline.minimum_bytes(_case(args), args["pass"]))


@figure("roofline.eager_L")
def _eager_l(s, **args):
    """Eager bytes in units of the logits' bytes L (roofline.eager_bytes / L)."""
    from cebench.measure import roofline

    case = _case(args)
    moved = roofline.eager_bytes(case, args["pass"], args.get("device", "cuda"),
                                 dispatch=args.get("dispatch"))
    return f"{moved / case.logits_bytes:.2g}"


@figure("roofline.eager_over_minimum")
def _eager_over_min(s, **args):
    from cebench.measure import roofline

    case = _case(args)
    moved = roofline.eager_bytes(case, args["pass"], args.get("device", "cuda"),
                                 dispatch=args.get("dispatch"))
    return f"{moved / roofline.minimum_bytes(case, args['pass']):.2g}"


@figure("selfcheck.min_kernel")
def _selfcheck_min_kernel(s, **_):
    """The shortest call cebench selfcheck judges against the profiler."""
    from cebench.measure import selfcheck

    return f"{selfcheck.PROFILER_MIN_KERNEL_S * 1e6:g} µs"


@figure("asv.matrix")
def _matrix(s, **_):
    """The torch releases of asv.conf.json's matrix."""
    from cebench import asvconf

    versions = asvconf.load(s.root / "asv.conf.json")["matrix"]["req"]["torch"]
    return " and ".join(versions) if len(versions) == 2 else ", ".join(versions)


@figure("history.default_releases")
def _default_releases(s, **_):
    from cebench import history

    return ", ".join(history.DEFAULT_RELEASES)


@figure("grid.shape")
def _shape(s, family: str, **_):
    from cebench.grid.cases import FAMILIES

    return "(" + ", ".join(str(n) for n in FAMILIES[family]) + ")"


@figure("grid.runnable")
def _runnable(s, grid: str, device: str, **_):
    """How many cases of a grid run on a device (the rest skip at set-up)."""
    from cebench.grid.cases import iter_grid

    cases = [c for c in iter_grid(grid) if not c.skip_reason(device)]
    return str(len(cases))


@figure("instructions.calls")
def _calls(s, **_):
    from cebench.measure import instructions

    return str(instructions.DEFAULT_CALLS)


# --- the committed results --------------------------------------------------------------------


@figure("results.releases")
def _results_releases(s, machine: str = MACHINE, **_):
    """How many releases a machine's committed results hold, oldest to newest."""
    from cebench.results import releases

    versions = releases.release_order(s.df.loc[s.df["machine"] == machine, "torch_version"])
    return f"{len(versions)} releases, {versions[0]} to {versions[-1]}"


# --- instruction counts -----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _count_runs(root: Path):
    runs = [json.loads((root / "tests" / "data" / "instructions" / f"run{k}.json").read_text())
            for k in (1, 2)]
    return [{(r["case"], r["pass"]): r["instructions_per_call"] for r in run} for run in runs]


@figure("instructions.repeat")
def _repeat(s, stat: str, **_):
    """Two `cebench instructions` runs of the grid (tests/data/instructions): the largest
    and the median relative difference of a count."""
    a, b = _count_runs(s.root)
    diffs = [abs(b[k] / a[k] - 1) for k in a if k in b]
    if stat == "counts":
        return str(len(diffs))
    return pct(max(diffs) if stat == "max" else statistics.median(diffs), 3)


@figure("instructions.step")
def _step(s, base: str, cand: str, **_):
    """The count rule's verdict between two releases (the release steps' computation)."""
    from cebench.publish import verdicts

    steps = verdicts.release_steps(s.df)
    found = [v for v in steps if v.baseline == f"torch {base}" and v.candidate == f"torch {cand}"]
    return found[0].count.sentence if found else "not measured"


@figure("instructions.weight_table")
def _weight_table(s, **_):
    """Weighted / unweighted instructions per call, newest release, per family and layout."""
    from cebench.publish import conclusions

    blocks = [b for b in conclusions.instruction_cost_table(s.df) if b["machine"] == MACHINE]
    if not blocks:
        return md_table(["family"], [["no instruction counts"]])
    block = blocks[0]
    rows = [[f, layout] + [cells.get(p, "") for p in block["passes"]]
            for f, layout, cells in block["rows"]]
    return (f"\ntorch {block['version']}, geometric mean over the reductions:\n"
            + md_table(["family", "layout"] + [conclusions.PASS_WORDS[p] for p in block["passes"]],
                       rows))


@figure("instructions.explained")
def _explained(s, **_):
    """The committed explanation records: case, pass, releases, counts per call."""
    from cebench.publish import findings

    rows = []
    for record in findings.load_explanations(s.root / "results", MACHINE):
        b, c = record["baseline"], record["candidate"]
        rows.append([f"`{record['case']}`", record["pass"],
                     f"{b['torch_version']} → {c['torch_version']}",
                     grouped(b["instructions_per_call"]), grouped(c["instructions_per_call"]),
                     f"{(c['instructions_per_call'] / b['instructions_per_call'] - 1) * 100:+.2f} %"])
    return md_table(["case", "pass", "torch", "baseline per call", "candidate per call",
                     "change"], rows)


# --- measurement records ----------------------------------------------------------------------


@figure("selfcheck.table")
def _selfcheck_table(s, machine: str = MACHINE, **_):
    """cebench's timer against torch.utils.benchmark.Timer, from the committed record of
    `python analysis/selfcheck_series.py` (docs/data/selfcheck-<machine>.json)."""
    record = s.json(f"docs/data/selfcheck-{machine}.json")
    rows = []
    for k, run in enumerate(record["runs"], 1):
        for row in run["report"]["rows"]:
            ours, timer = row["methods"].get("cebench"), row["methods"].get("torch-timer")
            if not ours or not timer:
                continue
            rows.append([k, row["case"].split(".")[0], row["pass"].replace("_", "+"),
                         f"{ours['median_s'] * 1e6:.0f} µs", pct(ours["rel_iqr"]),
                         f"{timer['median_s'] * 1e6:.0f} µs", pct(timer["rel_iqr"]),
                         f"{ours['median_s'] / timer['median_s']:.2f}"])
    return md_table(["run", "family", "pass", "cebench median", "rel. IQR", "Timer median",
                     "rel. IQR", "cebench / Timer"], rows)


@figure("selfcheck.when")
def _selfcheck_when(s, machine: str = MACHINE, **_):
    record = s.json(f"docs/data/selfcheck-{machine}.json")
    runs = record["runs"]
    loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
    return (f"`{record['machine']}` ({record['cpus']} CPUs seen by the process), torch "
            f"{record['torch']}, {record['threads']} torch thread, "
            f"{runs[0]['start'][:16].replace('T', ' ')}–{runs[-1]['end'][11:16]} UTC, load "
            f"average {min(loads):g} to {max(loads):g}")


@figure("mutation.table")
def _mutation_table(s, **_):
    """The mutation scores now (docs/mutation-scores.json, written by scripts/mutation.sh)."""
    record = s.json("docs/mutation-scores.json")
    rows = []
    for m in record["modules"]:
        judged = m["mutants"] - m["equivalent"] - m.get("not_run", 0)
        rows.append([m["module"], m["mutants"], m["caught"], m["survived"], m["equivalent"],
                     pct(m["caught"] / judged, 1) if judged else "n/a", m["seconds"],
                     f"{m['measured']}, `{m['machine']}`"])
    return (f"\n{record['tool']}, fast tests only:\n"
            + md_table(["module", "mutants", "caught", "survived", "of which equivalent",
                        "score", "run time (s)", "measured"], rows))


# --- rendering --------------------------------------------------------------------------------


def _arguments(text: str) -> dict:
    return dict(part.split("=", 1) for part in text.split())


def render(text: str, sources: Sources) -> str:
    """``text`` with every marked figure recomputed. KeyError for an unknown figure."""
    def value(match):
        name = match.group("name")
        if name not in FIGURES:
            raise KeyError(f"unknown figure {name!r} (known: {', '.join(sorted(FIGURES))})")
        new = FIGURES[name](sources, **_arguments(match.group("args")))
        return f"<!-- fig:{name}{match.group('args')} -->{new}<!-- /fig -->"
    return MARK.sub(value, text)


def stale(root: Path = REPO, docs=DOCS) -> list[tuple[str, str]]:
    """(doc, figure) for every figure whose text differs from what its source gives now."""
    sources = Sources(root)
    out = []
    for doc in docs:
        text = (Path(root) / doc).read_text()
        fresh = render(text, sources)
        if fresh != text:  # the markers are the same, in the same order: compare pairwise
            out += [(doc, new.group("name")) for old, new in
                    zip(MARK.finditer(text), MARK.finditer(fresh)) if old.group(0) != new.group(0)]
    return out


def write(root: Path = REPO, docs=DOCS) -> list[str]:
    """Rewrites the docs whose figures changed; returns them."""
    sources = Sources(root)
    changed = []
    for doc in docs:
        path = Path(root) / doc
        text = path.read_text()
        fresh = render(text, sources)
        if fresh != text:
            path.write_text(fresh)
            changed.append(doc)
    return changed


def figures_in(root: Path = REPO, docs=DOCS) -> list[tuple[str, str, str]]:
    """(doc, figure, arguments) of every marked figure: the list of generated figures."""
    return [(doc, m.group("name"), m.group("args").strip())
            for doc in docs for m in MARK.finditer((Path(root) / doc).read_text())]
