"""The case grid covers every axis the suite promises, the same on every machine."""

import itertools
import math

import pytest

from cebench.grid import cases
from cebench.grid.cases import GRIDS, Case


def _values(axis):
    """Every value an axis takes across all grids (defaults count for unnamed axes)."""
    found = set()
    for name in GRIDS:
        for case in cases.iter_grid(name):
            found.add(getattr(case, axis))
    return found


@pytest.mark.parametrize("axis, required", [
    ("reduction", {"none", "mean", "sum"}),
    ("dtype", {"float32", "float16", "bfloat16", "autocast_float16", "autocast_bfloat16"}),
    ("weighting", {"none", "ones", "random", "zero_class"}),
    ("layout", {"contiguous", "channels_last", "noncontig", "prob_targets"}),
    ("ignore_fraction", {0.0, 0.1}),
    ("label_smoothing", {0.0, 0.1}),
])
def test_grid_covers_every_axis_value(axis, required):
    assert required <= _values(axis)


def test_grid_covers_every_shape_family():
    families = _values("family")
    assert set(cases.FAMILIES) == families
    kinds = {f.split("-")[0] for f in families}
    assert {"small", "classification", "llm", "segmentation"} <= kinds
    vocab = {cases.FAMILIES[f][1] for f in families if f.startswith("llm")}
    assert min(vocab) <= 32768 and max(vocab) >= 128_000


def test_core_grid_is_the_full_product_of_reduction_weighted_dtype_per_family():
    core = list(cases.iter_grid("core"))
    for family in GRIDS["core"]["family"]:
        combos = {(c.reduction, c.weighting, c.dtype) for c in core if c.family == family}
        assert len(combos) == 3 * 2 * len(cases.DTYPES)
        assert {w for _, w, _ in combos} == {"none", "random"}


def _raw_product():
    """Every (grid, case) of every grid, built straight from GRIDS (not through iter_grid)."""
    for grid, axes in GRIDS.items():
        for values in itertools.product(*axes.values()):
            yield grid, Case(**dict(zip(axes, values)))


def test_params_are_static_and_match_param_names():
    for grid, axes in GRIDS.items():
        params, names = cases.asv_params(grid)
        assert all(isinstance(values, list) and values for values in params)
        # each name goes with its own values, in the grid's order
        assert names == list(axes)
        assert dict(zip(names, params)) == {axis: list(values) for axis, values in axes.items()}
        # round trip: every tuple of the product names the case with those fields
        for values in itertools.product(*params):
            case = cases.case_from_params(grid, values)
            assert {axis: getattr(case, axis) for axis in names} == dict(zip(names, values))
        with pytest.raises(ValueError, match=rf"grid '{grid}' takes {len(names)} parameters, "
                                             rf"got {len(names) - 1}$"):
            cases.case_from_params(grid, tuple(params[0][:1] * (len(names) - 1)))


def test_iter_grid_is_the_full_product_in_order():
    for grid, axes in GRIDS.items():
        expected = [case for g, case in _raw_product() if g == grid]
        assert list(cases.iter_grid(grid)) == expected
        assert len(expected) == math.prod(len(values) for values in axes.values())


def test_names_are_unique_across_the_raw_product():
    """Two different cases never share a name, and one case always has the same name:
    checked on the raw product of every grid, not through a dict keyed by name."""
    name_of: dict[Case, str] = {}
    case_of: dict[str, Case] = {}
    for _, case in _raw_product():
        assert name_of.setdefault(case, case.name) == case.name
        assert case_of.setdefault(case.name, case) == case, (case.name, case)
    assert len(set(name_of.values())) == len(name_of)


def test_a_name_carries_every_field_that_differs():
    base = Case("small")
    assert base.name == "small.contiguous.float32.mean.w-none"
    variants = [
        (Case("small-seg"), "small-seg.contiguous.float32.mean.w-none"),
        (Case("small", layout="noncontig"), "small.noncontig.float32.mean.w-none"),
        (Case("small", dtype="bfloat16"), "small.contiguous.bfloat16.mean.w-none"),
        (Case("small", reduction="sum"), "small.contiguous.float32.sum.w-none"),
        (Case("small", weighting="random"), "small.contiguous.float32.mean.w-random"),
        (Case("small", ignore_fraction=0.1), "small.contiguous.float32.mean.w-none.ignore-0.1"),
        (Case("small", label_smoothing=0.1), "small.contiguous.float32.mean.w-none.ls-0.1"),
        (Case("small", ignore_fraction=0.25, label_smoothing=0.05),
         "small.contiguous.float32.mean.w-none.ignore-0.25.ls-0.05"),
    ]
    for case, name in variants:
        assert case.name == name


def test_all_cases_lists_each_distinct_case_once_with_its_grids():
    grids_of: dict[Case, list[str]] = {}
    for grid, case in _raw_product():
        if grid not in grids_of.setdefault(case, []):
            grids_of[case].append(grid)
    everything = cases.all_cases()
    assert len(everything) == len(grids_of)
    for name, (case, grids) in everything.items():
        assert name == case.name and grids == tuple(grids_of[case])


def test_names_are_resolvable():
    for name, (case, _) in cases.all_cases().items():
        assert cases.lookup(name) == case
    with pytest.raises(ValueError, match=r"^unknown case 'no.such.case' \(list them with "
                                         r"`cebench cases`\)$"):
        cases.lookup("no.such.case")


@pytest.mark.parametrize("axis, allowed", [
    ("family", cases.FAMILIES), ("dtype", cases.DTYPES), ("reduction", cases.REDUCTIONS),
    ("weighting", cases.WEIGHTINGS), ("layout", cases.LAYOUTS),
])
def test_unknown_axis_value_is_a_clear_error(axis, allowed):
    fields = {"family": "small", axis: "float64"}
    with pytest.raises(ValueError) as info:
        Case(**fields)
    assert str(info.value) == (f"unknown {axis} 'float64'; expected one of "
                               + ", ".join(allowed))
    for value in allowed:  # every listed value is accepted
        assert getattr(Case(**{**fields, axis: value}), axis) == value


def test_sizes_and_kinds():
    seg = Case("small-seg", dtype="autocast_float16", layout="prob_targets")
    assert seg.shape == (2, 21, 64, 64) and seg.num_classes == 21
    assert seg.num_targets == 2 * 64 * 64
    assert (seg.storage_dtype, seg.autocast_dtype) == ("float16", "float16")
    assert seg.element_bytes == 2 and seg.logits_bytes == 2 * 21 * 64 * 64 * 2
    assert seg.target_kind == "probability" and Case("small").target_kind == "index"
    assert Case("small", dtype="bfloat16").autocast_dtype is None
    assert Case("small").as_dict() == {
        "family": "small", "dtype": "float32", "reduction": "mean", "weighting": "none",
        "layout": "contiguous", "ignore_fraction": 0.0, "label_smoothing": 0.0}


def test_invalid_reasons():
    assert Case("small", layout="channels_last").invalid_reason() == (
        "channels_last needs a 4-D (N, C, H, W) input")
    assert Case("small-seg", layout="channels_last").invalid_reason() is None
    assert Case("small-seg", layout="prob_targets", ignore_fraction=0.1).invalid_reason() == (
        "probability targets take no ignore_index")
    assert Case("small-seg", layout="prob_targets").invalid_reason() is None
    assert Case("small", ignore_fraction=0.1).invalid_reason() is None


def test_skip_reasons():
    assert Case("small", layout="channels_last").skip_reason("cuda") == (
        "channels_last needs a 4-D (N, C, H, W) input")
    assert Case("small", layout="channels_last").skip_reason("cpu") == (
        "channels_last needs a 4-D (N, C, H, W) input")
    big = Case("llm-128k")
    assert big.skip_reason("cpu") == "too big for the CPU grid (2004 MiB of logits > 8 MiB)"
    assert big.skip_reason("cuda") is None
    assert Case("small").skip_reason("cpu") is None


def test_the_cpu_size_limit_is_inclusive(monkeypatch):
    small = Case("small")
    monkeypatch.setattr(cases, "CPU_MAX_LOGITS_BYTES", small.logits_bytes)
    assert small.skip_reason("cpu") is None
    monkeypatch.setattr(cases, "CPU_MAX_LOGITS_BYTES", small.logits_bytes - 1)
    assert small.skip_reason("cpu") == "too big for the CPU grid (2 MiB of logits > 2 MiB)"


def test_every_grid_runs_something_on_the_cpu_or_is_gpu_only_by_design():
    gpu_only = {"vocab", "kernel", "memory"}
    for grid in GRIDS:
        runnable = [c for c in cases.iter_grid(grid) if c.skip_reason("cpu") is None]
        assert bool(runnable) == (grid not in gpu_only), grid


def test_case_rows_list_every_case_with_bytes_and_runnability():
    distinct = {case for _, case in _raw_product()}
    rows = cases.case_rows("cpu")
    assert len(rows) == len(distinct) and {r["name"] for r in rows} == {c.name for c in distinct}
    row = next(r for r in rows if r["name"] == "small.contiguous.float32.mean.w-none")
    assert row["logits_bytes"] == 4096 * 128 * 4 and row["runs_here"] is True
    assert row["skip_reason"] is None and row["shape"] == [4096, 128]
    assert row["device"] == "cpu" and row["family"] == "small" and "core" in row["grids"]
    big = next(r for r in rows if r["family"] == "llm-256k")
    assert big["runs_here"] is False and "too big" in big["skip_reason"]
    assert next(r for r in cases.case_rows("cuda") if r["name"] == big["name"])["runs_here"]
    for grid in GRIDS:
        only = cases.case_rows("cpu", grid)
        assert {r["name"] for r in only} == {c.name for g, c in _raw_product() if g == grid}
