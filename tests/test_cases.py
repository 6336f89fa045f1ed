"""The case grid covers every axis the suite promises, the same on every machine."""

import json
import subprocess
import sys

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


def test_params_are_static_and_match_param_names():
    for grid in GRIDS:
        params, names = cases.asv_params(grid)
        assert len(params) == len(names)
        assert all(isinstance(values, list) and values for values in params)
        # round trip: every tuple of the product names a valid case
        first = tuple(values[0] for values in params)
        assert cases.case_from_params(grid, first).family == params[0][0]


def test_names_are_unique_and_resolvable():
    everything = cases.all_cases()
    assert len(everything) == len({c.name for c, _ in everything.values()})
    for name, (case, _) in everything.items():
        assert cases.lookup(name) == case
    with pytest.raises(ValueError, match="unknown case"):
        cases.lookup("no.such.case")


def test_unknown_axis_value_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dtype 'float64'"):
        Case("small", dtype="float64")


def test_skip_reasons():
    assert Case("small", layout="channels_last").skip_reason("cuda") == (
        "channels_last needs a 4-D (N, C, H, W) input")
    big = Case("llm-128k")
    assert "too big for the CPU" in big.skip_reason("cpu")
    assert big.skip_reason("cuda") is None
    assert Case("small").skip_reason("cpu") is None
    assert Case("small-seg", layout="prob_targets", ignore_fraction=0.1).invalid_reason()


def test_every_grid_runs_something_on_the_cpu_or_is_gpu_only_by_design():
    gpu_only = {"vocab", "kernel", "memory"}
    for grid in GRIDS:
        runnable = [c for c in cases.iter_grid(grid) if c.skip_reason("cpu") is None]
        assert bool(runnable) == (grid not in gpu_only), grid


def test_cases_command_json_lists_every_case_with_bytes_and_runnability():
    out = subprocess.run([sys.executable, "-m", "cebench", "cases", "--json", "--device", "cpu"],
                         capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    assert len(rows) == len(cases.all_cases())
    row = next(r for r in rows if r["name"] == "small.contiguous.float32.mean.w-none")
    assert row["logits_bytes"] == 4096 * 128 * 4 and row["runs_here"] is True
    big = next(r for r in rows if r["family"] == "llm-256k")
    assert big["runs_here"] is False and "too big" in big["skip_reason"]
