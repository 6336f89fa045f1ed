"""The ``cebench`` command as a newcomer meets it: help with no extra installed, one line
naming the extra when a command's dependency is missing, exit codes, Ctrl-C.

Missing packages are simulated by hiding them: a ``sitecustomize`` on PYTHONPATH puts an
import hook first on ``sys.meta_path`` that raises ModuleNotFoundError for the hidden
top-level modules, in cebench and in every process it starts. (The slow test at the end
installs cebench into a fresh virtual environment instead.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cebench.cli import main
from cebench.errors import EXIT_MEANINGS

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "data" / "asv-results"  # torch 2.13.0 and 2.14.1, CPU

#: Everything an extra installs (pyproject.toml's bench, analysis and gpu).
BENCH = ["torch", "asv", "asv_runner"]
ANALYSIS = ["asv", "asv_runner", "asv_tachyon", "pandas", "scipy", "matplotlib", "nbclient",
            "nbformat", "nbconvert", "ipykernel", "jupyter_client", "IPython", "mistune"]
GPU = ["pynvml"]
NO_EXTRA = sorted(set(BENCH + ANALYSIS + GPU))

HIDE_HOOK = textwrap.dedent("""\
    import os, sys
    _HIDDEN = set(filter(None, os.environ.get("CEBENCH_TEST_HIDE", "").split(",")))

    class _Hide:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.partition(".")[0] in _HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    if _HIDDEN:
        sys.meta_path.insert(0, _Hide)
    """)


@pytest.fixture(scope="module")
def hook_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hide")
    (folder / "sitecustomize.py").write_text(HIDE_HOOK)
    return folder


def cebench(hook_dir: Path, hidden: list[str], *args: str, cwd: Path = REPO,
            timeout_s: float = 600) -> subprocess.CompletedProcess:
    """``python -m cebench ARGS`` with ``hidden`` modules missing."""
    env = dict(os.environ, CEBENCH_TEST_HIDE=",".join(hidden),
               PYTHONPATH=os.pathsep.join([str(hook_dir), str(REPO / "src")]))
    return subprocess.run([sys.executable, "-m", "cebench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout_s)


def test_the_hook_hides_what_it_is_told(hook_dir):
    env = dict(os.environ, CEBENCH_TEST_HIDE="torch", PYTHONPATH=str(hook_dir))
    proc = subprocess.run([sys.executable, "-c", "import torch"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in proc.stderr


def test_help_names_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    codes = " ".join(out.split("exit status:")[1].split("extras (")[0].split())
    for code, meaning in EXIT_MEANINGS.items():
        assert f"{code} {' '.join(meaning.split())}" in codes, code
    assert max(len(line) for line in out.splitlines()) <= 90
    assert "interrupted" in EXIT_MEANINGS[130] and "bad input" in EXIT_MEANINGS[2]
    assert "never a tool failure" in EXIT_MEANINGS[1]


def test_help_and_cases_work_with_no_extra(hook_dir):
    proc = cebench(hook_dir, NO_EXTRA, "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("cases", "check", "profile", "selfcheck", "compare", "notebooks",
                    "alert", "dashboard", "merge-results", "machine"):
        assert re.search(rf"^    {command}\b", proc.stdout, re.MULTILINE), command
    assert "exit status:" in proc.stdout and "130" in proc.stdout

    proc = cebench(hook_dir, NO_EXTRA, "cases", "--grid", "options")
    assert proc.returncode == 0, proc.stderr
    assert "small.contiguous.float32.mean.w-random.ignore-0.1" in proc.stdout
    assert proc.stdout.rstrip().endswith("32 cases, 16 run on cpu, 16 skipped")
    assert proc.stderr.strip() == ("cebench cases: torch is not installed: runnability is "
                                   "judged for the CPU (--device cuda for a GPU)")


@pytest.mark.parametrize("args, extra", [
    (["check"], "bench"),
    (["machine"], "bench"),
    (["profile", "small.contiguous.float32.mean.w-random"], "bench"),
    (["selfcheck"], "bench"),
    (["compare", str(RESULTS), "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1"],
     "analysis"),
    (["alert", str(RESULTS), "--summary", os.devnull], "analysis"),
    (["notebooks", "--results", str(RESULTS)], "analysis"),
    (["dashboard", "--results", str(RESULTS)], "analysis"),
])
def test_a_missing_extra_is_one_line_naming_it_and_exit_2(hook_dir, tmp_path, args, extra):
    proc = cebench(hook_dir, NO_EXTRA, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"cebench {args[0]}: error: needs ")
    assert f"pip install 'cebench[{extra}]'" in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing is written"


def test_reading_results_needs_the_analysis_extra_only(hook_dir, tmp_path):
    """compare, alert and the dashboard's asv and compare parts, without torch (the
    semantics check, which needs torch, is skipped and said to be)."""
    no_bench = ["torch", "pynvml"]
    proc = cebench(hook_dir, no_bench, "compare", str(RESULTS), "--baseline", "torch=2.13.0",
                   "--candidate", "torch=2.14.1")
    assert proc.returncode in (0, 1, 3), proc.stderr  # 3: one run per side, inconclusive
    assert "family=small, dtype=" in proc.stdout  # the parameters, named
    assert "skipped (" not in proc.stderr  # every result file was read
    html = tmp_path / "html"
    proc = cebench(hook_dir, no_bench, "dashboard", "--local-results", "none", "--results",
                   str(RESULTS), "--html",
                   str(html), "--only", "asv,compare,check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cebench dashboard: asv: ok" in proc.stdout
    assert "cebench dashboard: compare: ok" in proc.stdout
    assert ("cebench dashboard: check: skipped: torch is not installed: no semantics check "
            "(pip install 'cebench[bench]')") in proc.stdout
    assert (html / "index.json").exists() and (html / "index.html").exists()
    assert (html / "benchmarks.html").exists() and (html / "cebench" / "verdicts.json").exists()


def test_ctrl_c_while_starting_is_one_line_and_exit_130(tmp_path):
    """A real SIGINT, sent while cebench imports a command's module (torch for `check`:
    the seconds a Ctrl-C is most likely to land in)."""
    script = textwrap.dedent("""\
        import importlib, os, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
        from cebench import cli

        real_import = importlib.import_module

        def import_module(name, *args):
            if name == "cebench.semantics.conformance" or name == "cebench.commands.check":
                os.kill(os.getpid(), signal.SIGINT)
            return real_import(name, *args)

        importlib.import_module = import_module
        sys.exit(cli.main(["check"]))
        """)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "cebench: interrupted\n"


@pytest.mark.slow
def test_a_plain_pip_install_runs_help_and_cases(tmp_path):
    """`pip install .` (no extra) into a fresh virtual environment: numpy and cebench.
    (From a copy of what the build reads: pip builds in the source tree.)"""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True,
                   cwd=tmp_path, timeout=900)
    for module in ("torch", "pandas", "asv"):
        proc = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
        assert proc.returncode == 1, f"{module} is installed in the plain venv"
    cebench_bin = venv / "bin" / "cebench"
    proc = subprocess.run([str(cebench_bin), "--help"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0 and "exit status:" in proc.stdout, proc.stderr
    proc = subprocess.run([str(cebench_bin), "cases"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0 and " cases, " in proc.stdout, proc.stderr
    proc = subprocess.run([str(cebench_bin), "compare", str(RESULTS), "--baseline",
                           "torch=2.13.0", "--candidate", "torch=2.14.1"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "pip install 'cebench[analysis]'" in proc.stderr
