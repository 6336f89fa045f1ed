"""cebench dashboard: the parts, their rendering, and (slow) the site in headless Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cebench.publish import dashboard
from cebench.cli import main
from cebench.errors import InputError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))


def committed_results() -> Path:
    """The committed results (or CEBENCH_DASHBOARD_RESULTS, for scratch results)."""
    return Path(os.environ.get("CEBENCH_DASHBOARD_RESULTS", REPO / "results"))


def chromium_binary() -> str | None:
    """CEBENCH_CHROMIUM (e.g. google-chrome on GitHub runners), else Debian's chromium."""
    path = os.environ.get("CEBENCH_CHROMIUM", "/usr/bin/chromium")
    return path if os.access(path, os.X_OK) else None


# --- fast: rendering and bookkeeping ------------------------------------------------------


def test_markdown_tables_and_shortcodes_render_and_html_is_escaped():
    html = dashboard.markdown_to_html("### :red_circle: report\n\n| a | b |\n|---|---|\n| 1 | <x> |\n")
    assert "<table>" in html and "<td>1</td>" in html
    assert "&lt;x&gt;" in html and "<x>" not in html
    assert "\N{BLACK CIRCLE}" in html and ":red_circle:" not in html


def test_check_report_shows_broken_rules_and_hides_matching_grid_cases():
    report = {"torch_version": "2.13.0", "devices": {"cpu": "x"},
              "summary": {"verdicts": {"grid": {"matches": 2, "differs": 1}}, "rules_broken": 1},
              "cases": [{"kind": "grid", "name": "ok-case", "verdict": "matches", "rule_broken": False},
                        {"kind": "grid", "name": "ok-case-2", "verdict": "matches", "rule_broken": False},
                        {"kind": "grid", "name": "bad-case", "verdict": "differs", "rule_broken": True}]}
    html = dashboard.render_check(report)
    assert "bad-case" in html and "ok-case" not in html
    assert '<tr class="bad">' in html
    assert "Rules broken: <strong>1</strong>" in html


def test_link_bar_is_injected_once_outside_the_app_root(tmp_path):
    index = tmp_path / "index.html"
    index.write_text('<html><body><div id="root"></div></body></html>')
    dashboard.inject_link_bar(index)
    dashboard.inject_link_bar(index)
    text = index.read_text()
    assert text.count('id="cebench-links"') == 1
    assert text.index('<div id="root"></div>') < text.index("cebench-links") < text.index("</body>")
    assert 'href="cebench/index.html"' in text


def test_link_bar_and_index_carry_the_compare_verdict_and_the_noise(tmp_path):
    verdict = dashboard.Verdict("cpu-x", "2.13.0", "2.14.1", "inconclusive",
                                "cpu-x: one run per side; ...", "cebench/compare-cpu-x.html",
                                tau=0.08, min_detectable=0.35)
    index = tmp_path / "index.html"
    index.write_text('<html><body><div id="root"></div></body></html>')
    dashboard.inject_link_bar(index, [verdict])
    text = index.read_text()
    assert "cpu-x: torch 2.13.0 → 2.14.1 inconclusive (too few runs)" in text
    assert "run-to-run noise 8 %, detects shared changes over 35 %" in text
    page = dashboard.write_cebench_index(tmp_path, [], [verdict], ["cpu-x: tau note"])
    body = page.read_text()
    assert body.index("Regression verdicts") < body.index("Run-to-run noise")
    assert "cpu-x: tau note" in body and 'href="../cebench/compare-cpu-x.html"' in body


def test_output_dir_that_is_not_a_dashboard_is_refused(tmp_path):
    (tmp_path / "precious.py").write_text("x = 1")
    with pytest.raises(InputError, match="not a dashboard"):
        dashboard.check_output_dir(tmp_path)
    assert (tmp_path / "precious.py").exists()


def test_the_graph_pages_parameter_picker_scrolls_instead_of_pushing_the_chart_down(tmp_path):
    index = tmp_path / "index.html"
    index.write_text('<html><head><title>t</title></head><body><div id="root"></div></body></html>')
    dashboard.inject_chip_style(index)
    dashboard.inject_chip_style(index)
    text = index.read_text()
    assert text.count(dashboard.CHIP_STYLE_MARKER) == 1
    head = text[:text.index("</head>")]
    assert re.search(r"\.param-chips\{max-height:[\d.]+rem;overflow-y:auto", head)


def _previous_site(html: Path) -> None:
    (html / "cebench").mkdir(parents=True)
    (html / "cebench" / "index.html").write_text("the previous site")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".building-" in p.name
                  or ".previous-" in p.name)


def test_an_interrupted_build_leaves_the_previous_site_as_it_was(tmp_path, monkeypatch, capsys):
    html = tmp_path / "html"
    _previous_site(html)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dashboard, "build_compare", interrupted)
    code = main(["dashboard", "--results", str(REPO / "tests" / "data" / "asv-results"),
                 "--html", str(html), "--config", str(REPO / "asv.conf.json"),
                 "--only", "compare"])
    assert code == 130
    assert capsys.readouterr().err == "cebench dashboard: interrupted\n"
    assert sorted(p.name for p in html.iterdir()) == ["cebench"]
    assert (html / "cebench" / "index.html").read_text() == "the previous site"
    assert _leftovers(tmp_path) == []


def test_a_complete_build_replaces_the_previous_site(tmp_path, monkeypatch):
    html = tmp_path / "html"
    _previous_site(html)
    monkeypatch.setattr(dashboard, "build_compare",
                        lambda *a: dashboard.PartOutcome("compare", True, "stub"))
    code = main(["dashboard", "--results", str(REPO / "tests" / "data" / "asv-results"),
                 "--html", str(html), "--config", str(REPO / "asv.conf.json"),
                 "--only", "compare"])
    assert code == 0
    assert "the previous site" not in (html / "cebench" / "index.html").read_text()
    assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_during_the_analysis_part_stops_its_kernel_and_keeps_the_previous_site(tmp_path):
    """A real SIGINT to cebench dashboard's process group (as a terminal sends it) while
    a notebook cell runs: the notebook command gets it once and cleans up."""
    import signal
    import time

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebooks_dir = tmp_path / "notebooks"
    notebooks_dir.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell(
        "import os, pathlib, time\n"
        "out = pathlib.Path(os.environ['CEBENCH_ANALYSIS_OUT'])\n"
        "(out / 'kernel.pid').write_text(str(os.getpid()))\n"
        "time.sleep(3600)")]), notebooks_dir / "probe.ipynb")
    html, scratch = tmp_path / "html", tmp_path / "tmp"
    _previous_site(html)
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cebench", "dashboard", "--only", "analysis", "--analysis",
         str(notebooks_dir), "--results", str(REPO / "tests" / "data" / "asv-results"),
         "--html", str(html)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_sigint_as_at_a_terminal)
    deadline = time.monotonic() + 300  # a wait for the cell to start, not a measurement
    while (not list(tmp_path.glob(".html.building-*/.analysis.building-*/kernel.pid"))
           and proc.poll() is None and time.monotonic() < deadline):
        time.sleep(0.1)
    pid_files = list(tmp_path.glob(".html.building-*/.analysis.building-*/kernel.pid"))
    assert pid_files, proc.communicate()
    kernel_pid = int(pid_files[0].read_text())
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err == "cebench dashboard: interrupted\n"
    assert (html / "cebench" / "index.html").read_text() == "the previous site"
    assert _leftovers(tmp_path) == []
    assert not any(scratch.iterdir()), list(scratch.iterdir())
    status = Path(f"/proc/{kernel_pid}/status")
    assert not status.exists() or "\nState:\tZ" in status.read_text()


def _sigint_as_at_a_terminal():
    """In the child: SIGINT's default action, as a terminal's foreground job has it (a job
    started in the background by a non-interactive shell inherits SIGINT ignored, and
    Python then never raises KeyboardInterrupt)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(torch, commit, day, env="env-a"):
    return dashboard.Run(torch, commit, env, date=day * 86400.0)


def test_alert_pairs_take_the_newest_torch_against_the_previous_version_and_results():
    runs = sorted([_run("2.13.0", "aaa", 1), _run("2.14.1", "aaa", 1),
                   _run("2.13.0", "bbb", 2), _run("2.14.1", "bbb", 2)],
                  key=lambda r: (dashboard._version_key(r.torch), r.date))
    pairs = dashboard.alert_pairs(runs)  # default: the newest commit, bbb
    assert [(what, b.torch, b.commit, c.torch, c.commit) for what, b, c in pairs] == [
        ("previous torch version", "2.13.0", "bbb", "2.14.1", "bbb"),
        ("previous results", "2.14.1", "aaa", "2.14.1", "bbb")]
    assert dashboard.alert_pairs(runs, commit="aaa") == [("previous torch version", runs[0], runs[2])]
    assert dashboard.alert_pairs(runs, commit="zzz") == []


def test_previous_results_are_the_earlier_run_sharing_most_benchmarks():
    """A newer run of a subset (a history or instruction-count run) does not stand in for
    the suite: the gate compares with the earlier run that covers the candidate best."""
    suite, subset = frozenset({"a.time", "b.time", "c.track"}), frozenset({"c.track"})
    runs = [dashboard.Run("2.13.0", "old", "e", 1.0, 3, suite),
            dashboard.Run("2.13.0", "part", "e", 2.0, 1, subset),
            dashboard.Run("2.13.0", "new", "e", 3.0, 1, suite)]
    (what, baseline, candidate), = dashboard.alert_pairs(runs, commit="new")
    assert (what, baseline.commit, candidate.commit) == ("previous results", "old", "new")
    runs[0] = dashboard.Run("2.13.0", "old", "e", 1.0, 3, subset)  # equal cover: the newest
    assert dashboard.alert_pairs(runs, commit="new")[0][1].commit == "part"


def test_a_failing_part_is_reported_and_the_others_still_build(tmp_path, capsys):
    """One torch version only: compare cannot be built (exit 2, the part named), the asv
    part still is, and the front page leads to the report."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(REPO / "tests" / "data" / "asv-results", results)
    for path in (results / "cpu-amd-epyc-2c").glob("3c1d300c-*.json"):  # torch 2.14.1
        path.unlink()
    html = tmp_path / "html"
    code = main(["dashboard", "--results", str(results), "--html", str(html),
                 "--config", str(REPO / "asv.conf.json"), "--only", "asv,compare"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "cebench dashboard: asv: ok" in out
    assert re.search(r"^cebench dashboard: compare: FAILED: no machine in .* has results for "
                     "two torch versions", err, re.MULTILINE)
    front = (html / "cebench" / "index.html").read_text()
    assert "failed: no machine in" in front
    assert "http://" not in front and "https://" not in front


def test_empty_results_are_bad_input_and_no_site_is_written(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "benchmarks.json").write_text('{"version": 2}')
    html = tmp_path / "html"
    assert main(["dashboard", "--results", str(results), "--html", str(html),
                 "--config", str(REPO / "asv.conf.json"), "--only", "asv,compare"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"cebench dashboard: error: no asv result files in {results} "
                                 "(<machine>/<run>.json)\n")
    assert not html.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["dashboard", "--results", str(tmp_path / "nope"), "--config",
                 str(REPO / "asv.conf.json")]) == 2
    assert main(["dashboard", "--only", "asv,nonsense", "--results", str(tmp_path),
                 "--config", str(REPO / "asv.conf.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("cebench dashboard: error:") for line in err)


# --- slow: the whole site, in a browser with no way out -------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    results = committed_results()
    if not (results / "benchmarks.json").exists():
        pytest.skip(f"no committed asv results in {results} (set CEBENCH_DASHBOARD_RESULTS)")
    html = tmp_path_factory.mktemp("dashboard") / "html"
    proc = subprocess.run([sys.executable, "-m", "cebench", "dashboard", "--results", str(results),
                           "--html", str(html)], cwd=REPO, check=False,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return html, results


@pytest.fixture(scope="module")
def served(site):
    html, _ = site
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium at /usr/bin/chromium (bash scripts/install-chromium.sh) "
                    "or CEBENCH_CHROMIUM")
    pytest.importorskip("websocket", reason="websocket-client is not installed (dev extra)")
    from cdp import Browser

    b = Browser(binary)
    yield b
    b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = Path(os.environ.get("CEBENCH_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


# The tachyon UI probes optional per-benchmark data (graphs of benchmarks an environment
# did not run, e.g. GPU-only ones on a CPU machine; sample sidecars): a 404 there is normal.
OPTIONAL_DATA = re.compile(r"/(graphs|samples)/")
APP_READY = "document.querySelector('#root') && document.querySelector('#root').innerText.length > 200"


def assert_clean(load, base):
    outside = [u for u in load.requests if not u.startswith(base) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"{load.url} requested outside 127.0.0.1: {outside[:5]}"
    assert not load.errors, f"{load.url}: {load.errors[:5]}"
    missing = [u for u, s in load.statuses.items() if s >= 400 and not OPTIONAL_DATA.search(u)]
    assert not missing, f"{load.url}: missing {missing[:5]}"
    assert load.rendered, f"{load.url} did not render"


@pytest.mark.slow
def test_site_loads_nothing_from_outside_its_folder(site):
    html, _ = site
    external = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)
    offenders = [str(p.relative_to(html)) for p in html.rglob("*.html") if external.search(p.read_text())]
    assert not offenders


@pytest.mark.slow
def test_dashboard_front_page_renders_offline_and_links_to_the_analysis(served, browser, shots):
    load = browser.load(served + "index.html", ready_js=APP_READY, screenshot=shots / "index.png")
    assert_clean(load, served)
    assert "cebench" in load.text and "bench_loss.Core.time_forward" in load.text
    link = browser.evaluate("(() => { const a = document.querySelector('#cebench-links a');"
                            " if (!a) return null; const r = a.getBoundingClientRect();"
                            " return {href: a.href, visible: r.width > 0 && r.bottom <= innerHeight}; })()")
    assert link and link["visible"], "the cebench link bar did not survive the tachyon UI"
    assert link["href"] == served + "cebench/index.html"


@pytest.mark.slow
def test_benchmark_graph_shows_both_torch_versions(served, site, browser, shots):
    import warnings

    from cebench.results import load as results_load

    _, results = site
    bench = "bench_loss.Core.time_forward"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = results_load.load(results)
    # the matrix's versions (asv.conf.json) that ran this benchmark: asv graphs the runs
    # whose benchmark code matches benchmarks.json; a torch-history run of other releases,
    # recorded at another commit, is charted by cebench's own pages instead
    from asv.util import load_json

    matrix = set(load_json(str(REPO / "asv.conf.json"), js_comments=True)["matrix"]["req"]["torch"])
    versions = sorted(matrix & set(df.loc[(df["benchmark"] == bench) & (df["status"] == "ok"),
                                          "torch_version"]))
    assert len(versions) >= 2, f"the committed results cover only torch {versions}"
    load = browser.load(f"{served}index.html#view=compare&pairMode=env&bench={bench}",
                        ready_js=APP_READY + " && document.body.innerText.includes('envs')",
                        screenshot=shots / "graph-compare-envs.png")
    assert_clean(load, served)
    fetched = {u for u, s in load.statuses.items() if s == 200 and u.endswith(f"/{bench}.json") and "/graphs/branch-" in u}
    assert len(fetched) >= 2, f"graph data of {bench} for fewer than two environments: {fetched}"
    envs = int(re.search(r"(\d+) envs", load.text).group(1))
    assert envs >= 2
    if any("torch-" in u for u in fetched):  # asv matrix environments name the version
        for version in versions:
            assert any(f"torch-{version}" in u for u in fetched), (version, fetched)


@pytest.mark.slow
def test_every_cebench_page_renders_offline(served, browser, shots):
    load = browser.load(served + "cebench/index.html", screenshot=shots / "cebench-index.png")
    assert_clean(load, served)
    hrefs = browser.evaluate("[...document.querySelectorAll('li a')].map(a => a.href)")
    pages = [h for h in hrefs if h != served + "index.html"]
    assert any("/analysis/" in h for h in pages), "no analysis page linked"
    assert any("/cebench/compare-" in h for h in pages), "no compare report linked"
    assert any(h.endswith("/cebench/check.html") for h in pages), "no check table linked"
    for href in pages:
        name = href[len(served):].replace("/", "-")
        page = browser.load(href, ready_js="document.readyState === 'complete'",
                            screenshot=shots / name.replace(".html", ".png"))
        assert_clean(page, served)
        assert len(page.text) > 200, f"{href} is nearly empty"


@pytest.mark.slow
def test_a_graph_page_opens_on_its_chart(served, browser, shots):
    """bench_loss.Core has 150 parameter combinations: their picker scrolls inside itself
    (cebench's style) so that the chart starts within the first screen."""
    bench = "bench_loss.Core.time_forward"
    load = browser.load(f"{served}index.html#view=explore&bench={bench}",
                        ready_js=APP_READY + " && document.querySelector('.chart-wrap canvas')"
                        " && document.querySelectorAll('.param-chip').length > 100",
                        screenshot=shots / "graph-explore-core.png")
    assert_clean(load, served)
    layout = browser.evaluate(
        "(() => { const r = document.querySelector('.chart-wrap').getBoundingClientRect();"
        " return {top: r.top + scrollY, height: r.height, screen: innerHeight}; })()")
    assert layout["height"] > 100
    assert layout["top"] + 100 < layout["screen"], layout


# --- asv's regression list: only lower-is-better performance series -------------------------


def _two_commit_results(tmp_path) -> Path:
    """The small real torch 2.13.0 run, and a copy of it as the next commit (same
    environment) with bandwidth x4 (better), accuracy errors x3, the version record
    changed, and Core.time_forward x2 (worse)."""
    import json
    import shutil

    src = REPO / "tests" / "data" / "asv-results"
    dest = tmp_path / "results"
    machine = dest / "cpu-amd-epyc-2c"
    machine.mkdir(parents=True)
    shutil.copy(src / "benchmarks.json", dest / "benchmarks.json")
    shutil.copy(src / "cpu-amd-epyc-2c" / "machine.json", machine / "machine.json")
    first = next((src / "cpu-amd-epyc-2c").glob("2b2f6672-*.json"))
    shutil.copy(first, machine / first.name)
    data = json.loads(first.read_text())
    later = subprocess.check_output(["git", "-C", str(REPO), "rev-parse", "3c1d300c"],
                                    text=True).strip()
    factors = {"bench_bandwidth.": 4.0, "bench_accuracy.": 3.0, "bench_environment.": 1.01,
               "bench_loss.Core.time_forward": 2.0}
    col = data["result_columns"].index("result")
    for name, row in data["results"].items():
        factor = next((f for prefix, f in factors.items() if name.startswith(prefix)), 1.0)
        row[col] = [v * factor if isinstance(v, (int, float)) else v for v in row[col]] \
            if isinstance(row[col], list) else row[col]
    data["commit_hash"], data["date"] = later, data["date"] + 3_600_000
    (machine / f"{later[:8]}-{data['env_name']}.json").write_text(json.dumps(data))
    return dest


def _regressions(results: Path, conf: Path, tmp_path: Path, name: str) -> set[str]:
    import json

    html = tmp_path / name
    outcome = dashboard.publish_asv(results, html, conf, tmp_path / f"work-{name}")
    assert (html / "regressions.json").exists(), outcome.message
    return {r[0].split("(")[0] for r in json.loads((html / "regressions.json").read_text())["regressions"]}


def test_asv_regression_list_leaves_out_up_is_good_and_non_performance_series(tmp_path):
    import json

    from cebench import asvconf

    results = _two_commit_results(tmp_path)
    listed = _regressions(results, REPO / "asv.conf.json", tmp_path, "html")
    assert "bench_loss.Core.time_forward" in listed  # twice as slow: listed
    assert not any(n.startswith(("bench_bandwidth.", "bench_accuracy.", "bench_environment."))
                   for n in listed), listed
    # the same results without the setting: asv lists the bandwidth increase as a regression
    conf = asvconf.load(REPO / "asv.conf.json")
    conf.pop("regressions_first_commits")
    plain = tmp_path / "plain" / "asv.conf.json"
    plain.parent.mkdir()
    plain.write_text(json.dumps(conf))
    (plain.parent / "benchmarks").symlink_to(REPO / "benchmarks")
    unfiltered = _regressions(results, asvconf.write_relocated(plain, tmp_path / "plain.json",
                                                               repo=REPO), tmp_path, "plain")
    assert any(n.startswith("bench_bandwidth.") for n in unfiltered), unfiltered


@pytest.mark.slow
def test_one_regression_verdict_on_every_page(served, site, browser, shots):
    """The front page's box, the cebench index and each compare page show the verdict and
    the regression count of the same `cebench compare` report; asv's regression list
    holds no series where higher is better and no record that is not performance."""
    import json

    html, _ = site
    reports = sorted((html / "cebench").glob("compare-*.json"))
    assert reports, "no compare report"
    front = browser.load(served + "index.html", ready_js=APP_READY, screenshot=shots / "front-verdict.png")
    assert_clean(front, served)
    box = browser.evaluate("document.querySelector('#cebench-links').innerText")
    index = browser.load(served + "cebench/index.html", screenshot=shots / "index-verdict.png")
    for path in reports:
        report = json.loads(path.read_text())
        machine = report["machines"][0]["machine"]
        words = dashboard.VERDICT_WORDS[report["outcome"]]
        assert f"{machine}: torch" in box and words in box, box
        assert words in index.text and machine in index.text
        page = browser.load(served + f"cebench/{path.stem}.html",
                            screenshot=shots / f"{path.stem}-verdict.png")
        n = report["counts"]["regression"]
        assert f"Regressions ({n})" in page.text
        assert f"{len(report['comparisons'])} compared: {n} worse" in page.text
    feed = json.loads((html / "regressions.json").read_text())["regressions"]
    names = [entry[0] for entry in feed]
    assert not [n for n in names if n.startswith(("bench_bandwidth.", "bench_environment.",
                                                  "bench_accuracy."))], names
    view = browser.load(served + "index.html#view=regressions", ready_js=APP_READY,
                        screenshot=shots / "asv-regressions.png")
    assert_clean(view, served)
    if not feed:  # asv's list is empty: its page must not show a count of its own
        assert "0 total" in view.text or "No regressions feed" in view.text, view.text[:500]
