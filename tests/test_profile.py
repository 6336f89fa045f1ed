"""`cebench profile` end to end: files written, NVML's absence said, bad input rejected."""

from __future__ import annotations

import json

import pytest
import torch

from cebench.cli import main

CASE = "small.contiguous.float32.mean.w-random"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _run_profile(tmp_path, capsys, case, *extra):
    rc = main(["profile", case, "--out", str(tmp_path), "--iterations", "2", *extra])
    return rc, capsys.readouterr()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_profile_on_cpu_writes_png_trace_and_summary(tmp_path, capsys):
    rc, out = _run_profile(tmp_path, capsys, CASE, "--pass", "forward_backward")
    assert rc == 0
    stem = tmp_path / f"{CASE}.forward_backward"
    png = stem.with_name(stem.name + ".timeline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    trace = json.loads(stem.with_name(stem.name + ".trace.json").read_text())
    names = {ev.get("name") for ev in trace["traceEvents"]}
    assert "aten::_log_softmax_backward_data" in names and "[memory]" in names
    summary = json.loads(stem.with_name(stem.name + ".summary.json").read_text())
    assert summary["case"] == CASE and summary["device"] == "cpu"
    assert summary["torch_version"] == torch.__version__
    peaks = summary["allocator_peaks"]
    assert peaks["forward_backward"]["peak_allocated_delta_bytes"] == pytest.approx(
        peaks["forward_backward"]["expected_peak_bytes"], rel=0.01)
    assert peaks["forward_backward"]["expected_peak_bytes"] >= 3 * 4096 * 128 * 4
    assert summary["nvml"]["available"] is False and summary["nvml"]["reason"]
    assert summary["top_ops"] and summary["top_ops"][0]["self_cpu_time_us"] > 0
    assert summary["wall_s_per_call"]["median"] > 0 and summary["wall_s_per_call"]["calls"] == 2
    shares = [op["share"] for op in summary["top_ops"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-9
    lines = out.out.splitlines()
    assert lines[0].startswith(f"{CASE} forward_backward on cpu (")
    assert lines[1].startswith("wall time per call: ") and "median of 2" in lines[1]
    assert lines[2].startswith("top ops by self CPU time, 2 profiled calls of ")
    assert lines[2].endswith("x the wall time above: the profiler slows every call):")
    top = summary["top_ops"][0]
    share, rest = lines[3].split(None, 1)   # an op's name may hold spaces
    assert share == f"{top['share']:.1%}" and rest.startswith(top["name"] + " ")
    memory = next(line for line in lines if line.startswith("memory peak: "))
    assert "MiB allocated (expected " in memory and "NVML unavailable: " in memory
    assert lines[-1].startswith("wrote ") and lines[-1].endswith(
        ".{timeline.png, trace.json, summary.json}")


def test_unknown_case_exits_2_with_one_line(tmp_path, capsys):
    rc, out = _run_profile(tmp_path, capsys, "no.such.case")
    assert rc == 2
    assert out.err.strip().count("\n") == 0 and "unknown case 'no.such.case'" in out.err
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="the case runs on CUDA")
def test_case_too_big_for_the_cpu_exits_2(tmp_path, capsys):
    rc, out = _run_profile(tmp_path, capsys, "llm-128k.contiguous.float32.mean.w-none")
    assert rc == 2 and "does not run on cpu" in out.err


@pytest.mark.cuda
@needs_cuda
def test_profile_on_cuda_writes_its_files(tmp_path, capsys):
    case = "classification.contiguous.float32.mean.w-random"
    rc, _ = _run_profile(tmp_path, capsys, case, "--pass", "forward")
    assert rc == 0
    summary = json.loads((tmp_path / f"{case}.forward.summary.json").read_text())
    assert summary["device"] == "cuda"
    fwd = summary["allocator_peaks"]["forward"]
    assert fwd["peak_allocated_delta_bytes"] == pytest.approx(fwd["expected_peak_bytes"], rel=0.05)
    assert summary["nvml"]["available"], summary["nvml"]["reason"]
    assert summary["nvml"]["samples_taken"] >= 2
    for key in ("timeline_png", "chrome_trace", "summary_json"):
        assert (tmp_path / summary["files"][key].split("/")[-1]).stat().st_size > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_the_terminal_gets_the_summary_and_not_the_profilers_log_lines(tmp_path):
    """torch's profiler (kineto) prints 'USDT: ... profiler_start' lines on stderr from C++
    (capsys cannot see them): run the command in its own process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    env["PYTHONPATH"] = str(repo / "src")
    proc = subprocess.run([sys.executable, "-m", "cebench", "profile", CASE, "--out",
                           str(tmp_path), "--iterations", "2"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "wall time per call: " in proc.stdout and "top ops by self CPU time" in proc.stdout
    assert "memory peak: " in proc.stdout and len(proc.stdout.splitlines()) <= 12
