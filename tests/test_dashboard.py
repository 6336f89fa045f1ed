"""cebench dashboard: the parts, their rendering, and (slow) the site in headless Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cebench.publish import asvsite, dashboard, front, pages, reports
from cebench.results import rules
from cebench.publish import runs as publish_runs
from cebench.cli import main
from cebench.errors import InputError

from cebench.results import load as results_load

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


def test_markdown_tables_details_and_shortcodes_render_and_html_is_escaped():
    html = pages.markdown_to_html("### :red_circle: report\n\n| a | b |\n|---|---|\n| 1 | <x> |\n"
                                  "\n<details><summary>All 2 rows</summary>\n\n| c |\n|---|\n"
                                  "| 2 |\n\n</details>\n")
    assert "<table>" in html and "<td>1</td>" in html
    assert "&lt;x&gt;" in html and "<x>" not in html
    assert "\N{BLACK CIRCLE}" in html and ":red_circle:" not in html
    assert "<details><summary>All 2 rows</summary>" in html and "</details>" in html
    assert "&lt;details&gt;" not in html and "&lt;summary&gt;" not in html


def test_long_tables_are_folded_and_short_ones_are_not():
    short = pages.table(["n"], [[i] for i in range(pages.FOLD_ROWS)])
    long = pages.table(["n"], [[i] for i in range(pages.FOLD_ROWS + 1)], summary="numbers")
    assert "<details>" not in short
    assert long.startswith(f"<details><summary>numbers ({pages.FOLD_ROWS + 1} rows)</summary>")


def test_check_report_shows_broken_rules_and_hides_matching_grid_cases():
    report = {"torch_version": "2.13.0", "devices": {"cpu": "x"},
              "summary": {"verdicts": {"grid": {"matches": 2, "differs": 1}}, "rules_broken": 1},
              "cases": [{"kind": "grid", "name": "ok-case", "verdict": "matches", "rule_broken": False},
                        {"kind": "grid", "name": "ok-case-2", "verdict": "matches", "rule_broken": False},
                        {"kind": "grid", "name": "bad-case", "verdict": "differs", "rule_broken": True}]}
    html = reports.check_page(report)
    assert "bad-case" in html and "ok-case" not in html
    assert '<tr class="worse">' in html
    assert "Rules broken: <strong>1</strong>" in html


def test_output_dir_that_is_not_a_dashboard_is_refused(tmp_path):
    (tmp_path / "precious.py").write_text("x = 1")
    with pytest.raises(InputError, match="not a dashboard"):
        dashboard.check_output_dir(tmp_path)
    assert (tmp_path / "precious.py").exists()


def test_every_patch_applies_once_to_the_installed_asv_tachyon_ui():
    """The charts page opens from disk and shows no verdicts of its own: each text the
    patches replace is in the pinned asv-tachyon's bundle exactly once, and after them
    no red/green change class, regressed/improved count or Regressions tab is left."""
    ui = pytest.importorskip("asv_tachyon", reason="asv-tachyon (analysis extra)")
    static = Path(ui.__file__).parent / "static"
    (bundle,) = (static / "assets").glob("index-*.js")
    patched = asvsite.patch_bundle(bundle.read_text())
    for gone in ('"muted":(c?a>0:a<0)?"delta-down":"delta-up"', '" regressed"', '" improved"',
                 '{id:"regressions"', '"only-regressed "', "size:64", "var(--danger)"):
        assert gone not in patched, gone
    assert 'label:"commit (oldest to newest)"' in patched
    assert patched.startswith('const HIGHER_IS_BETTER=["bytes/s", "fraction"];')
    with pytest.raises(asvsite.PatchError, match="regressions tab text 0 times"):
        asvsite.patch_bundle(bundle.read_text().replace('{id:"regressions",label:"Regressions"},', ""))
    page = asvsite.adapt_page((static / "index.html").read_text())
    assert 'type="module"' not in page and "crossorigin" not in page
    assert page.index(asvsite.FILE_DATA_SCRIPT) < page.index("<script defer src=")
    assert page.index('id="cebench-bar"') < page.index('id="root"')
    assert "cebench dashboard --serve" in page  # what a reader sees if the charts cannot run
    assert ".delta-up,.delta-down{color:inherit!important}" in page  # changes in grey
    assert asvsite.adapt_page(page) == page


def test_every_json_file_gets_a_script_that_hands_its_data_to_the_page(tmp_path):
    (tmp_path / "graphs" / "a b").mkdir(parents=True)
    (tmp_path / "index.json").write_text('{"x": [1, 2]}')
    (tmp_path / "graphs" / "a b" / "t.json").write_text("[[1, NaN]]")
    assert asvsite.write_data_scripts(tmp_path) == 2
    script = (tmp_path / "index.json.js").read_text()
    assert script == '__cebenchData(document.currentScript.src,{"x": [1, 2]});\n'
    assert (tmp_path / "graphs" / "a b" / "t.json.js").exists()


def test_committed_and_local_results_are_read_as_one_folder(tmp_path):
    committed, local = tmp_path / "results", tmp_path / "local"
    for tree, bench in ((committed, {"a": 1, "b": 1}), (local, {"b": 2, "c": 2})):
        (tree / "m").mkdir(parents=True)
        (tree / "benchmarks.json").write_text(json.dumps(bench))
        (tree / "m" / "machine.json").write_text("{}")
    (committed / "m" / "old.json").write_text("committed")
    (committed / "m" / "same.json").write_text("committed")
    (local / "m" / "same.json").write_text("local")
    (local / "m" / "new.json").write_text("local")
    folder, names = dashboard.combine_results(committed, local, tmp_path / "both")
    assert names == {"same.json", "new.json"}
    assert json.loads((folder / "benchmarks.json").read_text()) == {"a": 1, "b": 2, "c": 2}
    assert {p.name: p.read_text() for p in (folder / "m").glob("*.json")
            if p.name != "machine.json"} == {"old.json": "committed", "same.json": "local",
                                             "new.json": "local"}
    assert dashboard.combine_results(committed, None, tmp_path / "x") == (committed, set())
    assert dashboard.combine_results(committed, tmp_path / "none", tmp_path / "x") == (committed, set())


def test_function_names_lose_arguments_templates_and_return_types():
    assert front.short_function(
        "void at::native::AVX2::f<float>(float const*, long)") == "at::native::AVX2::f"
    assert front.short_function("Sleef_expf8_u10avx2") == "Sleef_expf8_u10avx2"
    assert front.short_function(
        "at::native::(anonymous namespace)::g<float>(float*)::{lambda(long)#1}::operator()(long) "
        "const").endswith("(anonymous namespace)::g::{lambda#1}::operator()")


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

    monkeypatch.setattr(dashboard, "build_verdicts", interrupted)
    code = main(["dashboard", "--local-results", "none",
                 "--results", str(REPO / "tests" / "data" / "asv-results"),
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
    monkeypatch.setattr(dashboard, "build_verdicts",
                        lambda *a: dashboard.PartOutcome("compare", True, "stub"))
    code = main(["dashboard", "--local-results", "none",
                 "--results", str(REPO / "tests" / "data" / "asv-results"),
                 "--html", str(html), "--config", str(REPO / "asv.conf.json"),
                 "--only", "compare"])
    assert code == 0
    assert not (html / "cebench" / "index.html").exists()
    assert "the previous site" not in (html / "index.html").read_text()
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
        [sys.executable, "-m", "cebench", "dashboard", "--local-results", "none",
         "--only", "analysis", "--analysis",
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
    return publish_runs.Run(torch, commit, env, date=day * 86400.0)


def test_alert_pairs_take_the_newest_torch_against_the_previous_version_and_results():
    runs = sorted([_run("2.13.0", "aaa", 1), _run("2.14.1", "aaa", 1),
                   _run("2.13.0", "bbb", 2), _run("2.14.1", "bbb", 2)],
                  key=lambda r: (results_load.version_key(r.torch), r.date))
    pairs = publish_runs.alert_pairs(runs)  # default: the newest commit, bbb
    assert [(what, b.torch, b.commit, c.torch, c.commit) for what, b, c in pairs] == [
        ("previous torch version", "2.13.0", "bbb", "2.14.1", "bbb"),
        ("previous results", "2.14.1", "aaa", "2.14.1", "bbb")]
    assert publish_runs.alert_pairs(runs, commit="aaa") == [("previous torch version", runs[0], runs[2])]
    assert publish_runs.alert_pairs(runs, commit="zzz") == []


def test_previous_results_are_the_earlier_run_sharing_most_benchmarks():
    """A newer run of a subset (a history or instruction-count run) does not stand in for
    the suite: the gate compares with the earlier run that covers the candidate best."""
    suite, subset = frozenset({"a.time", "b.time", "c.track"}), frozenset({"c.track"})
    runs = [publish_runs.Run("2.13.0", "old", "e", 1.0, 3, suite),
            publish_runs.Run("2.13.0", "part", "e", 2.0, 1, subset),
            publish_runs.Run("2.13.0", "new", "e", 3.0, 1, suite)]
    (what, baseline, candidate), = publish_runs.alert_pairs(runs, commit="new")
    assert (what, baseline.commit, candidate.commit) == ("previous results", "old", "new")
    runs[0] = publish_runs.Run("2.13.0", "old", "e", 1.0, 3, subset)  # equal cover: the newest
    assert publish_runs.alert_pairs(runs, commit="new")[0][1].commit == "part"


def test_a_failing_part_is_reported_and_the_others_still_build(tmp_path, capsys):
    """asv publish cannot find the project's repository (for commit dates): the asv part
    fails (exit 2, the part named in one line), the compare part is still built, and the
    charts' page says why it is empty."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(REPO / "tests" / "data" / "asv-results", results)
    conf = tmp_path / "asv.conf.json"
    text = (REPO / "asv.conf.json").read_text()
    conf.write_text(re.sub(r'"repo":\s*"[^"]*"', f'"repo": "{tmp_path / "no-repo"}"', text))
    html = tmp_path / "html"
    code = main(["dashboard", "--local-results", "none", "--results", str(results),
                 "--html", str(html), "--config", str(conf), "--only", "asv,compare"])
    out, err = capsys.readouterr()
    assert code == 2
    assert re.search(r"^cebench dashboard: asv: FAILED: asv publish exited \d+: .*no-repo",
                     err, re.MULTILINE)
    assert re.search(r"^cebench dashboard: compare: ok: ", out, re.MULTILINE)
    assert (html / "cebench" / "verdicts.json").exists()
    charts = (html / "benchmarks.html").read_text()
    assert "This part failed: asv publish exited" in charts
    assert "http://" not in charts and "https://" not in charts


def test_empty_results_are_bad_input_and_no_site_is_written(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "benchmarks.json").write_text('{"version": 2}')
    html = tmp_path / "html"
    assert main(["dashboard", "--local-results", "none", "--results", str(results),
                 "--html", str(html), "--config", str(REPO / "asv.conf.json"),
                 "--only", "asv,compare"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"cebench dashboard: error: no asv result files in {results} "
                                 "(<machine>/<run>.json)\n")
    assert not html.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["dashboard", "--local-results", "none", "--results", str(tmp_path / "nope"),
                 "--config",
                 str(REPO / "asv.conf.json")]) == 2
    assert main(["dashboard", "--only", "asv,nonsense", "--results", str(tmp_path),
                 "--config", str(REPO / "asv.conf.json")]) == 2
    assert main(["dashboard", "--serve", "--port", "70000", "--html", str(tmp_path)]) == 2
    assert main(["dashboard", "--local-results", str(tmp_path / "nope"), "--results",
                 str(tmp_path), "--config", str(REPO / "asv.conf.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("cebench dashboard: error:") for line in err)


def test_serve_serves_the_built_site_until_ctrl_c(tmp_path):
    import signal
    import urllib.request

    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<p>the answers</p>")
    proc = subprocess.Popen([sys.executable, "-m", "cebench", "dashboard", "--serve", "--port",
                             "0", "--html", str(html)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
                            preexec_fn=_sigint_as_at_a_terminal)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        assert urllib.request.urlopen(url + "index.html", timeout=10).read() == b"<p>the answers</p>"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == "cebench dashboard: interrupted\n"


# --- slow: the whole site, in a browser with no way out -------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    results = committed_results()
    if not (results / "benchmarks.json").exists():
        pytest.skip(f"no committed asv results in {results} (set CEBENCH_DASHBOARD_RESULTS)")
    html = tmp_path_factory.mktemp("dashboard") / "html"
    proc = subprocess.run([sys.executable, "-m", "cebench", "dashboard", "--results", str(results),
                           "--local-results", "none", "--html", str(html)], cwd=REPO, check=False,
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


#: Whole-page screenshots (slower) only when they are asked for (CEBENCH_SCREENSHOTS).
FULL = bool(os.environ.get("CEBENCH_SCREENSHOTS"))


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
    errors = [e for e in load.errors  # a missing optional data file, from disk
              if not (e.startswith("load failed") and OPTIONAL_DATA.search(e))]
    assert not errors, f"{load.url}: {errors[:5]}"
    missing = [u for u, s in load.statuses.items() if s >= 400 and not OPTIONAL_DATA.search(u)]
    assert not missing, f"{load.url}: missing {missing[:5]}"
    assert load.rendered, f"{load.url} did not render"


@pytest.mark.slow
def test_site_loads_nothing_from_outside_its_folder(site):
    html, _ = site
    external = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)
    offenders = [str(p.relative_to(html)) for p in html.rglob("*.html") if external.search(p.read_text())]
    assert not offenders


# Pages a reader opens, and what each must show once rendered.
APP_READY_FILE = APP_READY + " && !document.body.innerText.includes('Loading the benchmark charts')"
GRAPH = "benchmarks.html#view=explore&bench=bench_loss.Core.time_forward"
GRAPH_READY = (APP_READY_FILE + " && document.querySelector('.chart-wrap canvas')"
               " && document.querySelectorAll('.param-chip').length > 100")


def _schemes(served, site):
    html, _ = site
    return {"http": served, "file": html.resolve().as_uri() + "/"}


@pytest.mark.slow
def test_the_front_page_answers_before_any_chart_from_disk_and_over_http(served, site, browser,
                                                                      shots):
    for scheme, base in _schemes(served, site).items():
        load = browser.load(base + "index.html", screenshot=shots / f"front-{scheme}.png",
                            full_page=FULL)
        assert_clean(load, base)
        text = load.text
        questions = ["1. What does weight cost?", "2. What changed between releases?",
                     "3. Do the semantics hold?"]
        assert [text.index(q) for q in questions] == sorted(text.index(q) for q in questions)
        assert text.index("Newest run") < text.index(questions[0])
        said = rules.rule_lines()  # each rule in its own words, with its settings
        assert said["count"].split(" (")[0] in text and said["time"].split(" (")[0] in text
        assert "run-to-run noise" in text and "noise is" in text  # beside the answers
        assert browser.evaluate("document.querySelectorAll('img, canvas, script').length") == 0


@pytest.mark.slow
def test_the_charts_open_from_disk_and_over_http_without_verdicts_of_their_own(
        served, site, browser, shots):
    for scheme, base in _schemes(served, site).items():
        load = browser.load(base + GRAPH, ready_js=GRAPH_READY,
                            screenshot=shots / f"graph-{scheme}.png", full_page=FULL)
        assert_clean(load, base)
        assert "Regressions" not in load.text and "only-regressed" not in load.text
        fetched = [u for u in load.requests if "/graphs/" in u]
        assert fetched and all(u.endswith(".json.js" if scheme == "file" else ".json")
                               for u in fetched), fetched[:3]
        layout = browser.evaluate(
            "(() => { const axes = [...document.querySelectorAll('.chart-wrap .u-axis')]"
            ".map(a => a.getBoundingClientRect()); const bar = document.querySelector("
            "'#cebench-bar').getBoundingClientRect(); const chart = document.querySelector("
            "'.chart-wrap').getBoundingClientRect(); return {axes: axes.map(r => [r.width, "
            "r.height]), bar: bar.bottom, chart: chart.top, screen: innerHeight}; })()")
        y_axis_width = max(w for w, h in layout["axes"] if h > w)
        assert y_axis_width > 64, layout  # as wide as '950.000µs', not cut to 64 px
        assert layout["bar"] <= layout["chart"] and layout["chart"] + 100 < layout["screen"]
        project = browser.evaluate(
            "[...document.querySelectorAll('a')].find(a => a.textContent === 'cebench').href")
        assert project == base + "index.html"  # asv.conf.json's project_url: the answers


@pytest.mark.slow
def test_every_page_renders_from_disk(site, browser, shots):
    html, _ = site
    base = html.resolve().as_uri() + "/"
    front = browser.load(base + "index.html")
    links = browser.evaluate("[...document.querySelectorAll('nav.site a, main a')].map(a => a.href)")
    analysis = browser.load(base + "cebench/analysis.html")
    links += browser.evaluate("[...document.querySelectorAll('main li a')].map(a => a.href)")
    pages = sorted({h.split("#")[0] for h in links if h.startswith(base) and h.endswith(".html")})
    assert {base + p for p in ("cebench/findings.html", "cebench/newest.html",
                               "cebench/check.html", "benchmarks.html")} <= set(pages)
    notebooks = [p for p in pages if "/analysis/" in p]
    assert len(notebooks) == len(list((REPO / "analysis").glob("*.ipynb"))), notebooks
    for href in pages:
        name = href[len(base):].replace("/", "-").replace(".html", "")
        ready = APP_READY_FILE if href.endswith("benchmarks.html") else "true"
        page = browser.load(href, ready_js=ready, screenshot=shots / f"{name}-file.png",
                            full_page=FULL)
        assert_clean(page, base)
        assert len(page.text) > 200, f"{href} is nearly empty"
    assert front.rendered and analysis.rendered


@pytest.mark.slow
def test_one_verdict_per_pair_on_every_page_and_on_the_command_line(served, site, browser):
    """The front page, the pair's page and the regressions notebook show the verdicts of
    verdicts.json, each with its rule; `cebench compare` on the same pair agrees."""
    html, results = site
    record = json.loads((html / "cebench" / "verdicts.json").read_text())
    assert record["newest"], "no newest-run verdict"
    front = browser.load(served + "index.html").text
    notebook = browser.load(served + "analysis/regressions.html").text
    for v in record["newest"]:
        page = browser.load(served + f"cebench/pair-{v['slug']}.html").text
        for rule in (v["count"], v["time"]):
            if rule["outcome"] == "none":
                continue
            said = f"{rule['worse']} worse, {rule['better']} better of {rule['compared']} compared"
            assert said in page and said in notebook, (said, rule)
            assert rule["words"] in page
        proc = subprocess.run(
            [sys.executable, "-m", "cebench", "compare", str(results), "--baseline",
             v["baseline_spec"], "--candidate", v["candidate_spec"], "--machine", v["machine"],
             "--json", str(html.parent / "cli.json")], cwd=REPO, capture_output=True, text=True)
        cli = json.loads((html.parent / "cli.json").read_text())
        assert cli["outcome"] == v["outcome"], proc.stdout[:300]
    newest = record["newest"][0]
    assert f"Against {newest['relation']} ({newest['baseline']})" in front
    for step in record["releases"]:
        assert f"{step['baseline'].split()[-1]} → {step['candidate'].split()[-1]}" in front


def _firefox_binary() -> str | None:
    path = os.environ.get("CEBENCH_FIREFOX", "/usr/bin/firefox-esr")
    return path if os.access(path, os.X_OK) else None


@pytest.mark.slow
def test_firefox_opens_the_site_from_disk(site, shots):
    binary = _firefox_binary()
    if binary is None:
        pytest.skip("no Firefox at /usr/bin/firefox-esr (apt-get install firefox-esr) or "
                    "CEBENCH_FIREFOX")
    from bidi import Firefox

    html, _ = site
    base = html.resolve().as_uri() + "/"
    browser = Firefox(binary)
    try:
        ready, text = browser.load(base + "index.html", screenshot=shots / "firefox-front-file.png")
        assert ready and "1. What does weight cost?" in text and not browser.errors
        # one benchmark's chart (the overview's tiles load as they scroll into view)
        ready, text = browser.load(base + GRAPH, ready_js=GRAPH_READY,
                                   screenshot=shots / "firefox-charts-file.png")
        assert ready, text[:500]
        assert "bench_loss.Core.time_forward" in text and not browser.errors, browser.errors
    finally:
        browser.close()


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
    """The series in the regression feed of a plain `asv publish` with this config."""
    from cebench import asvconf

    html = tmp_path / name
    relocated = asvconf.write_relocated(conf, tmp_path / f"{name}.publish.json",
                                        results_dir=results, html_dir=html)
    proc = subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(relocated)],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert (html / "regressions.json").exists(), proc.stdout + proc.stderr
    return {r[0].split("(")[0] for r in json.loads((html / "regressions.json").read_text())["regressions"]}


def test_asv_regression_list_leaves_out_up_is_good_and_non_performance_series(tmp_path):
    """For anyone running `asv publish` by hand: asv.conf.json keeps series where higher is
    better and records that are not performance out of asv's lower-is-better feed. (The
    site publishes no asv feed: its verdicts are cebench's.)"""
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


def test_the_local_runs_are_where_run_suite_writes_them(tmp_path, monkeypatch):
    """--local-results, else $CEBENCH_LOCAL_RESULTS (run-suite.sh's), else .asv/results
    beside the config; 'none' reads no local runs."""
    import argparse

    from cebench.commands import dashboard as command

    conf = tmp_path / "asv.conf.json"
    conf.write_text("{}")
    default = tmp_path / ".asv" / "results"
    moved = tmp_path / "elsewhere"
    args = argparse.Namespace(local_results=None)
    monkeypatch.delenv("CEBENCH_LOCAL_RESULTS", raising=False)
    assert command._local_results(args, conf) is None  # nothing run here yet
    default.mkdir(parents=True)
    assert command._local_results(args, conf) == default
    moved.mkdir()
    monkeypatch.setenv("CEBENCH_LOCAL_RESULTS", str(moved))
    assert command._local_results(args, conf) == moved
    assert command._local_results(argparse.Namespace(local_results="none"), conf) is None


def test_a_doc_page_names_the_repository_files_it_cannot_link():
    """docs/verdicts.md links its load records as ../results/...: the site does not hold
    results/, so the page names the file instead of a link that leads nowhere."""
    page = reports.doc_page("verdicts", (REPO / "docs" / "verdicts.md").read_text())
    assert 'href="../results/' not in page
    assert "<code>results/cpu-amd-epyc-2c/load/91656913-series.csv</code>" in page
    kept = reports.doc_page("x", "# X\n\n[the site](https://example.org/a) [b](other.html)\n")
    assert 'href="https://example.org/a"' in kept and 'href="other.html"' in kept
