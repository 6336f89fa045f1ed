"""scripts/asv-replicates.sh with real asv: N runs of one commit keep N results files
(asv's name, then -r2, -r3 ...), and run 1's file is not updated by the later runs."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "asv-replicates.sh"


def _script(tmp_path, *args):
    env = dict(os.environ, HOME=str(tmp_path),
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_a_bad_run_count_is_one_line_and_exit_2(tmp_path):
    proc = _script(tmp_path, "two", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("asv-replicates: the number of runs must be a positive "
                                   "integer, not 'two'")


@pytest.mark.slow
def test_three_runs_keep_three_results_files(run_asv, tmp_path):
    results_dir, head, _ = run_asv([], "--help")  # writes the config and the machine record
    conf = tmp_path / "asv.conf.json"
    proc = _script(tmp_path, "3", str(results_dir / "cebench-test"), "--config", str(conf),
                   "-E", "existing:same", "--machine", "cebench-test", "--launch-method",
                   "forkserver", "--set-commit-hash", head, "--quick",
                   "--bench", r"Environment\.track_torch_version")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    files = sorted(p.name for p in (results_dir / "cebench-test").glob(f"{head[:8]}-*.json"))
    stem = min(files, key=len)[:-len(".json")]  # asv's own name, the shortest
    assert files == [f"{stem}-r2.json", f"{stem}-r3.json", f"{stem}.json"]
    dates = set()
    for name in files:
        result = json.loads((results_dir / "cebench-test" / name).read_text())
        assert "bench_environment.Environment.track_torch_version" in result["results"]
        row = dict(zip(result["result_columns"],
                       result["results"]["bench_environment.Environment.track_torch_version"]))
        dates.add(row["started_at"])
    assert len(dates) == 3  # three runs, none updated in place
    assert "cebench: replicate run 3 ->" in proc.stdout
