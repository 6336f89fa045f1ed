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
EXPECTED = {"regressions", "weight_cost", "memory_bandwidth", "accuracy", "instructions",
            "history", "implementations"}
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
        # "relative error" is a unit; "raises: IndexError" an outcome of the semantics table
        shown = re.sub(r"relative error|raises: \w+Error", "", page, flags=re.I)
        assert "Traceback" not in page and "Error" not in shown, path.name
        assert "<img" in page or path.stem == "regressions", path.name
    assert list(out.glob("*.png")), "figures are written next to the HTML"


@pytest.mark.slow
def test_absent_gpu_data_is_said_not_raised(executed):
    out, _ = executed
    df = results.load(results_for_notebooks())
    page = (out / "memory_bandwidth.html").read_text()
    assert df["gpu"].isna().all()  # CPU-only results (both results_for_notebooks() sources)
    assert "GPU memory results are absent" in page


@pytest.mark.slow
def test_regressions_notebook_charts_two_versions(executed):
    out, _ = executed
    df = results.load(results_for_notebooks())
    assert len(results.torch_versions(df)) >= 2  # both results_for_notebooks() sources
    assert list(out.glob("ratios-*.png")) and list(out.glob("heatmap-*.png"))
    assert "<img" in (out / "regressions.html").read_text()


@pytest.mark.slow
def test_each_page_opens_with_its_computed_conclusion(executed):
    """The first thing after a page's introduction is the conclusion computed from the same
    results (cebench.publish.conclusions), before any table or figure."""
    import html as html_lib

    from cebench.publish import conclusions, implementations
    from cebench.results import impls as stored

    out, _ = executed
    df = results.load(results_for_notebooks())
    from cebench.publish import verdicts

    changes = verdicts.release_changes(df)  # the computation the history page shows
    cells = stored.load(results_for_notebooks())[1]
    for stem, lines in (("history", conclusions.history(df, changes)),
                        ("implementations", implementations.conclusion(df, cells)),
                        ("instructions", conclusions.instructions(df)),
                        ("weight_cost", conclusions.weight_cost(df)),
                        ("accuracy", conclusions.accuracy(df)),
                        ("memory_bandwidth", conclusions.memory_bandwidth(df))):
        page = html_lib.unescape(re.sub(r"<[^>]+>", "", (out / f"{stem}.html").read_text()))
        page = re.sub(r"\s+", " ", page)
        first = re.sub(r"\s+", " ", lines[0].replace("**", "").replace("`", ""))
        assert first[:60] in page, (stem, first[:60])
        position = page.index(first[:60])
        assert position < page.index("env_name"), stem  # before the table of runs


def test_every_verdict_has_a_colour():
    from cebench.results import compare

    assert set(compare.VERDICTS) == set(plots.VERDICT_COLOURS)


# --- a newcomer's first runs: finding the project, errors, Ctrl-C ---------------------------


def _project(tmp_path: Path, notebook_cells: list[str] | None = None) -> Path:
    """A project folder: asv.conf.json, results/ (a copy of real results), analysis/ with
    one notebook of the given code cells (none: no notebook)."""
    import shutil

    root = tmp_path / "project"
    (root / "analysis").mkdir(parents=True)
    (root / "asv.conf.json").write_text("{}")
    shutil.copytree(REPO / "tests" / "data" / "asv-results", root / "results")
    if notebook_cells is not None:
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in notebook_cells]),
                       root / "analysis" / "probe.ipynb")
    return root


def test_the_projects_analysis_folder_is_found_from_any_folder_below_it(tmp_path, monkeypatch):
    root = _project(tmp_path, ["1 + 1"])
    (root / "results" / "deeper").mkdir()
    monkeypatch.chdir(root / "results" / "deeper")
    assert notebooks.find_notebook_dir() == root / "analysis"
    monkeypatch.chdir(tmp_path)  # outside any project: the checkout cebench runs from
    assert notebooks.find_notebook_dir() == REPO / "analysis"


def test_analysis_option_and_its_old_name(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for option in ("--analysis", "--notebooks"):
        assert main(["notebooks", option, str(empty), "--results", str(tmp_path)]) == 2
        assert f"no notebooks (*.ipynb) in {empty}" in capsys.readouterr().err


def test_empty_results_are_bad_input_before_any_notebook_runs(tmp_path, capsys):
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (results_dir / "benchmarks.json").write_text("{}")
    assert main(["notebooks", "--results", str(results_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"cebench notebooks: error: no asv result files in {results_dir} (<machine>/<run>.json)"
    assert not (tmp_path / "out").exists()


def test_a_failing_notebook_is_one_plain_line(tmp_path, monkeypatch, capsys):
    """IPython colours the traceback a failing cell records; the terminal gets plain text."""
    root = _project(tmp_path, ["raise ValueError('the data disagree')"])
    monkeypatch.chdir(root / "analysis")
    assert main(["notebooks"]) == 2  # not a finding: nothing was measured
    err = capsys.readouterr().err
    assert err == "cebench notebooks: error: a notebook failed: ValueError: the data disagree\n"
    assert "\x1b" not in err
    assert not (root / "html").exists() or not any((root / "html").iterdir())


def test_results_a_notebook_cannot_read_are_bad_input(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path, ["from cebench.results import load\n"
                               "load.load(load.Path('nowhere'))"])
    monkeypatch.chdir(root)
    assert main(["notebooks"]) == 2
    err = capsys.readouterr().err
    assert err == "cebench notebooks: error: ResultsError: no results directory at nowhere\n"


def test_notebook_defaults_write_into_the_projects_html_not_analysis(tmp_path, monkeypatch):
    """A notebook opened in Jupyter (cwd analysis/, no CEBENCH_* variables) writes its
    figures to the project's html/analysis and reads the project's results/."""
    root = _project(tmp_path)
    monkeypatch.chdir(root / "analysis")
    monkeypatch.delenv("CEBENCH_ANALYSIS_OUT", raising=False)
    monkeypatch.delenv("CEBENCH_RESULTS", raising=False)
    assert plots.out_dir() == root / "html" / "analysis"
    assert plots.results_dir() == root / "results"
    assert (root / "html" / "analysis").is_dir()
    assert not (root / "analysis" / "html").exists()


BLOCKING_CELL = ("import os, pathlib, time\n"
                 "out = pathlib.Path(os.environ['CEBENCH_ANALYSIS_OUT'])\n"
                 "(out / 'kernel.pid').write_text(str(os.getpid()))\n"
                 "time.sleep(3600)")
QUICK_CELL = ("import os, pathlib\n"
              "pathlib.Path(os.environ['CEBENCH_ANALYSIS_OUT'], 'first.png').write_bytes(b'new')")


@pytest.mark.slow
@pytest.mark.parametrize("blocked", ["first", "second"])
def test_ctrl_c_stops_a_running_notebook_and_keeps_the_previous_pages(tmp_path, blocked):
    """A real SIGINT to the process group (as a terminal sends it) while a cell runs, in
    the first notebook, or in the second after the first's page was written: exit 130
    with one line, the kernel stopped, its sockets and temporary folder gone, and the
    previous html/analysis exactly as it was."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = _project(tmp_path)
    cells = ({"first": [BLOCKING_CELL], "second": [QUICK_CELL]} if blocked == "first"
             else {"first": [QUICK_CELL], "second": [BLOCKING_CELL]})
    for name, code in cells.items():
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in code]),
                       root / "analysis" / f"{name}.ipynb")
    out = root / "html" / "analysis"
    out.mkdir(parents=True)
    for name in ("first", "second", "older"):
        (out / f"{name}.html").write_text(f"the previous {name} page")
    (out / "first.png").write_bytes(b"the previous figure")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "cebench", "notebooks"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            # SIGINT's default action, as at a terminal (a background job
                            # of a non-interactive shell inherits it ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    staged = root / "html"
    deadline = time.monotonic() + 300  # a wait for the cell to start, not a measurement
    while (not list(staged.glob(".analysis.building-*/kernel.pid")) and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.1)
    pid_files = list(staged.glob(".analysis.building-*/kernel.pid"))
    assert pid_files, proc.communicate()
    built = sorted(p.name for p in pid_files[0].parent.iterdir())
    assert built == (["kernel.pid"] if blocked == "first"
                     else ["first.html", "first.png", "kernel.pid"])
    kernel_pid = int(pid_files[0].read_text())
    assert list(scratch.glob("cebench-kernel-*/kernel.json"))  # the sockets live there
    os.killpg(proc.pid, signal.SIGINT)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err == "cebench notebooks: interrupted\n"
    assert f"[1/2] first.ipynb: running" in stdout
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in staged.iterdir()) == ["analysis"]  # nothing left beside
    assert not any(scratch.iterdir()), list(scratch.iterdir())
    assert not _running(kernel_pid)


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


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
