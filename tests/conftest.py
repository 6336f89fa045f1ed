import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip, with the reason, where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none here)")
    for item in items:
        # the marker, not item.keywords: keywords also hold folder names (a checkout in
        # a folder called "cuda" would skip every test)
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

# The tests read the committed results, never this machine's own runs: the dashboard reads
# those from $CEBENCH_LOCAL_RESULTS, else .asv/results (where scripts/run-suite.sh writes);
# here a folder that does not exist (a test of that lookup sets its own).
os.environ["CEBENCH_LOCAL_RESULTS"] = str(REPO / ".asv" / "no-local-runs-in-tests")


@pytest.fixture(scope="session")
def committed_results(tmp_path_factory) -> pathlib.Path:
    """A copy of the committed ``results/``: the files git tracks there, never what a
    local run or a merge added beside them. Tests that assert on the published results
    read this. Outside a git checkout: ``results/`` itself."""
    proc = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--", "results"],
                          capture_output=True, text=True)
    tracked = [name for name in proc.stdout.split("\0") if name] if proc.returncode == 0 else []
    if not tracked:
        return REPO / "results"
    copy = tmp_path_factory.mktemp("committed") / "results"
    for name in tracked:
        source = REPO / name
        if source.is_file():
            dest = copy.parent / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
    return copy


@pytest.fixture
def run_asv(tmp_path):
    """Run real asv on this checkout's HEAD in the current Python, into ``tmp_path``.

    Returns ``run(bench_regexes, *extra_args) -> (results_dir, commit, CompletedProcess)``.
    The machine record goes to a scratch $HOME, never the user's ~/.asv-machine.json.
    """
    from cebench import asvconf

    conf_path = asvconf.write_relocated(
        REPO / "asv.conf.json", tmp_path / "asv.conf.json", results_dir=tmp_path / "results",
        html_dir=tmp_path / "html", env_dir=tmp_path / "env")
    env = dict(os.environ, HOME=str(tmp_path))
    asv = [sys.executable, "-m", "asv", "--config", str(conf_path)]
    commit = subprocess.check_output(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                                     text=True).strip()
    subprocess.run(asv + ["machine", "--machine", "cebench-test", "--yes"], env=env,
                   check=True, capture_output=True)

    def run(bench_regexes, *extra_args, extra_env=None):
        bench = [arg for regex in bench_regexes for arg in ("--bench", regex)]
        proc = subprocess.run(
            asv + ["run", "-E", "existing:same", "--machine", "cebench-test",
                   "--launch-method", "forkserver", "--record-samples",
                   "--set-commit-hash", commit, *bench, *extra_args],
            env=dict(env, **(extra_env or {})), cwd=REPO, capture_output=True, text=True,
            timeout=600)
        return tmp_path / "results", commit, proc

    return run


@pytest.fixture
def cuda_autocast_replay():
    """CPU autocast dispatching ``F.cross_entropy`` as CUDA autocast does (a CPU replay).

    Source: torch 2.13's dispatcher (``torch._C._dispatch_dump``): ``aten::cross_entropy_loss``
    has an ``AutocastCPU`` kernel and no ``AutocastCUDA`` one, so under
    ``torch.autocast("cuda")`` the call decomposes into ``log_softmax(x, 1, dtype=x.dtype)``
    and ``nll_loss`` autocast to float32. cebench.measure.memory.cuda_autocast_dispatch
    removes the CPU kernel while the test runs; CPU autocast then takes the CUDA path.
    """
    from cebench.measure.memory import cuda_autocast_dispatch

    with cuda_autocast_dispatch():
        yield
