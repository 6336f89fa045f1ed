"""The analysis notebooks: committed without outputs, executed headless, offline HTML.

The slow test executes every notebook (nbclient, a fresh kernel of this Python)
against the committed ``results/`` when it holds results, else the real asv output in
``tests/data/asv-results`` (CPU only, two torch versions: the GPU sections must say
that their data are absent instead of failing).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# the analysis extra: absent on a GPU machine's bare Python, where `pytest -m cuda` must
# still collect (a module-level ImportError would stop the whole session)
nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (analysis extra)")
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

from cebench.publish import notebooks
from cebench.publish import plots
from cebench.results import load as results
from cebench.cli import main

REPO = Path(__file__).resolve().parents[1]
EXPECTED = {"regressions", "weight_cost", "memory_bandwidth", "accuracy", "instructions"}
EXTERNAL = re.compile(r"""<(script|link)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//""", re.I)


def results_for_notebooks() -> Path:
    committed = REPO / "results"
    if any(committed.glob("*/*-*.json")):
        return committed
    return REPO / "tests" / "data" / "asv-results"


def test_notebooks_are_committed_without_outputs():
    paths = notebooks.notebook_paths()
    assert {p.stem for p in paths} == EXPECTED
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name
        source = "\n".join(c.source for c in nb.cells)
        assert "plots.results_dir()" in source and "plots.out_dir()" in source


def test_offline_html_has_no_external_resources():
    nb = new_notebook(cells=[new_markdown_cell("# Title\n\nInline math $x^2$ and $$\\sum_i w_i$$"),
                             new_code_cell("1 + 1")])
    page = notebooks.to_offline_html(nb)
    assert "<title>Title</title>" in page
    assert not EXTERNAL.search(page)
    assert "mathjax" not in page.lower() and "require.js" not in page.lower()


def test_external_resource_guard_catches_cdn_links():
    assert notebooks.EXTERNAL_RESOURCE.search(
        '<script src="https://cdn.example.org/require.min.js"></script>')
    assert notebooks.EXTERNAL_RESOURCE.search('<link rel="stylesheet" href="//cdn.x/y.css">')
    assert not notebooks.EXTERNAL_RESOURCE.search('<img src="data:image/png;base64,AAAA">')


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["notebooks", "--results", str(tmp_path / "none"), "--out",
                 str(tmp_path / "out")]) == 2
    assert "no results directory" in capsys.readouterr().err
    assert main(["notebooks", "--results", str(tmp_path), "--notebooks", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err


def test_plots_degrade_to_none_without_data():
    import pandas as pd

    assert plots.ratio_forest(pd.DataFrame(columns=["ratio", "worse_by", "verdict"])) is None
    assert plots.ratio_heatmap(pd.DataFrame()) is None
    assert plots.grouped_bars(pd.DataFrame(), "x", "y") is None
    assert plots.accuracy_bars(pd.DataFrame()) is None
    assert plots.save(None, "nothing") is None


def test_heatmap_grid_is_the_geometric_mean_per_cell():
    import pandas as pd

    table = pd.DataFrame({"reduction": ["mean", "mean", "sum"], "dtype": ["f", "f", "f"],
                          "weighting": ["none", "none", "none"], "ratio": [1.0, 4.0, 0.5]})
    grid = plots.ratio_grid(table)["none"]
    assert grid.loc["mean", "f"] == pytest.approx(2.0)
    assert grid.loc["sum", "f"] == pytest.approx(0.5)
    fig = plots.ratio_heatmap(table)
    assert fig is not None and len(fig.axes) == 2  # one panel and its colour bar


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    written = notebooks.run_all(results_for_notebooks(), out, log=lambda *_: None)
    return out, written


@pytest.mark.slow
def test_every_notebook_executes_and_writes_offline_html(executed):
    out, written = executed
    assert {p.stem for p in written} == EXPECTED
    for path in written:
        page = path.read_text()
        assert not EXTERNAL.search(page), path.name
        assert "Traceback" not in page and "Error" not in re.sub(r"relative error", "", page,
                                                                  flags=re.I), path.name
        assert "<img" in page or path.stem == "regressions", path.name
    assert list(out.glob("*.png")), "figures are written next to the HTML"


@pytest.mark.slow
def test_absent_gpu_data_is_said_not_raised(executed):
    out, _ = executed
    df = results.load(results_for_notebooks())
    page = (out / "memory_bandwidth.html").read_text()
    if df["gpu"].isna().all():
        assert "GPU memory results are absent" in page


@pytest.mark.slow
def test_regressions_notebook_charts_two_versions(executed):
    out, _ = executed
    df = results.load(results_for_notebooks())
    if len(results.torch_versions(df)) >= 2:
        assert list(out.glob("ratios-*.png")) and list(out.glob("heatmap-*.png"))
        assert "<img" in (out / "regressions.html").read_text()


def test_every_verdict_has_a_colour():
    from cebench.results import compare

    assert set(compare.VERDICTS) == set(plots.VERDICT_COLOURS)


def test_notebooks_command_names_the_result_files_it_will_skip(tmp_path):
    import shutil

    from cebench.commands import notebooks as command

    results = tmp_path / "results"
    shutil.copytree(Path(__file__).parent / "data" / "asv-results", results)
    bad = results / "cpu-amd-epyc-2c" / "deadbeef-broken.json"
    bad.write_text('{"truncated')
    assert command.unreadable_results(results) == [bad]
    bad.unlink()
    assert command.unreadable_results(results) == []
