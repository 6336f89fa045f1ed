"""`cebench selfcheck`: end to end on the CPU (exit code, table, JSON), the fidelity
verdict, and bad input. No timing thresholds."""

import json

import pytest
import torch

from cebench import cli
from cebench.measure import roofline
from cebench.measure import selfcheck

SMALL = "small.contiguous.float32.mean.w-random"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CEBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_selfcheck_end_to_end_on_the_cpu(tmp_path, capsys):
    out_json = tmp_path / "selfcheck.json"
    code = cli.main(["selfcheck", "--device", "cpu", "--case", SMALL, "--budget-s", "0.05",
                     "--min-run-time", "0.02", "--peak-mib", "4", "--threads", "1",
                     "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("case / pass"))
    assert "cebench median" in header and "torch-timer median" in header
    rows = [line for line in lines if line.startswith(SMALL)]
    assert len(rows) == 2 and {r.split()[1] for r in rows} == {"forward", "forward_backward"}
    assert all("(torch-timer)" in r and r.rstrip().endswith("not judged") for r in rows)
    assert "profiler kernel-time check needs CUDA" in out
    assert "peak copy bandwidth (cpu):" in out and "4 MiB copy" in out

    report = json.loads(out_json.read_text())
    assert report["device"] == "cpu" and report["threads"] == 1
    assert report["fidelity_misses"] == 0
    assert [r["pass"] for r in report["rows"]] == ["forward", "forward_backward"]
    for row in report["rows"]:
        cebench, timer = row["methods"]["cebench"], row["methods"]["torch-timer"]
        assert cebench["median_s"] > 0 and timer["median_s"] > 0
        assert row["ratio"] == pytest.approx(cebench["median_s"] / timer["median_s"])
        assert row["judged"] is False
    assert report["peak_bandwidth"]["copy_bytes"] == 4 << 20


def test_judge_only_cuda_calls_of_20us_or_more():
    ratio, judged, miss = selfcheck.judge(104e-6, 100e-6, "cuda", 0.03)
    assert ratio == pytest.approx(1.04) and judged and miss
    assert selfcheck.judge(102e-6, 100e-6, "cuda", 0.03)[1:] == (True, False)
    assert selfcheck.judge(15e-6, 10e-6, "cuda", 0.03)[1:] == (False, False)  # too short
    assert selfcheck.judge(2e-3, 1e-3, "cpu", 0.03)[1:] == (False, False)  # CPU: no verdict
    assert selfcheck.judge(1e-3, None, "cuda", 0.03) == (None, False, False)


def test_a_fidelity_miss_exits_1(monkeypatch, capsys):
    """The exit-1 path, with CUDA and the measurements faked."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def fake_check(case, pass_, device, **kw):
        m = selfcheck.MethodResult
        methods = {"cebench": m(110e-6, 0.01, 50), "profiler": m(100e-6, 0.01, 20)}
        ratio, judged, miss = selfcheck.judge(110e-6, 100e-6, device, kw["tolerance"])
        return selfcheck.Row(case.name, pass_, methods, "profiler", ratio, judged, miss)

    monkeypatch.setattr(selfcheck, "check_case", fake_check)
    monkeypatch.setattr(roofline, "peak_bandwidth", lambda device, refresh: roofline.PeakBandwidth(
        device, "m", 4.3e12, 2**30, 5e-4, 0.01, 10, "x", "t"))
    code = cli.main(["selfcheck", "--device", "cuda", "--case", SMALL, "--pass", "forward"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISS" in out and "FIDELITY MISS" in out and "4300.00 GB/s" in out


@pytest.mark.parametrize("argv, message", [
    (["--case", "no-such-case"], "unknown case"),
    (["--tolerance", "5"], "--tolerance"),
    (["--budget-s", "0"], "--budget-s"),
    (["--threads", "0"], "--threads"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    code = cli.main(["selfcheck", "--device", "cpu", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda(capsys):
    assert cli.main(["selfcheck", "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_profiler_kernel_time_on_cuda():
    x = torch.randn(1 << 24, device="cuda")
    result = selfcheck.kernel_seconds_per_call(lambda: x.mul(2.0), iterations=5)
    assert result.median_s > 0 and result.samples == 5 and result.note == ""


@pytest.mark.parametrize("suite_threads, expected", [(None, 1), ("2", 2)])
def test_default_threads_are_the_suites(tmp_path, capsys, monkeypatch, suite_threads, expected):
    """Without --threads, the CPU timers run on the thread count the suite measures with
    (CEBENCH_CPU_THREADS, default 1), whatever torch's own default is."""
    if suite_threads is None:
        monkeypatch.delenv("CEBENCH_CPU_THREADS", raising=False)
    else:
        monkeypatch.setenv("CEBENCH_CPU_THREADS", suite_threads)
    out_json = tmp_path / "selfcheck.json"
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # not the suite's: the command must not take it
    try:
        code = cli.main(["selfcheck", "--device", "cpu", "--case", SMALL, "--pass", "forward",
                         "--budget-s", "0.02", "--min-run-time", "0.01", "--peak-mib", "1",
                         "--json", str(out_json)])
        assert torch.get_num_threads() == 3, "the caller's setting is restored"
    finally:
        torch.set_num_threads(before)
    assert code == 0
    words = "1 CPU thread\n" if expected == 1 else f"{expected} CPU threads\n"
    assert words in capsys.readouterr().out
    assert json.loads(out_json.read_text())["threads"] == expected


def test_profiler_reference_is_the_per_call_span_not_the_kernel_sum():
    """A recorded-shape fake of ``torch.profiler`` device kernels (FunctionEvent name,
    time_range in µs): per call, an L2-flush kernel, then 3 kernels of 10 µs with ~1 µs
    launch gaps. cebench's event pair spans the gaps too, so the reference must be the
    span (32 µs), not the sum of durations (30 µs): a 6.7 % spurious miss at 3 %."""
    K = selfcheck.KernelEvent
    events = []
    for call in range(3):
        t0 = 1000.0 * call
        events.append(K("flush_l2", t0, t0 + 50))
        events += [K("softmax", t0 + 60, t0 + 70), K("nll", t0 + 71, t0 + 81),
                   K("grad", t0 + 82, t0 + 92)]
    spans, flushes = selfcheck.per_call_kernel_spans(events[::-1], {"flush_l2"}, 3)
    assert flushes == 3
    assert spans == pytest.approx([32e-6] * 3)
    ratio, judged, miss = selfcheck.judge(32e-6, spans[0], "cuda", 0.03)
    assert judged and not miss and ratio == pytest.approx(1.0)
    # a call that launched no kernel spans 0 s (and is then not judged)
    assert selfcheck.per_call_kernel_spans(events[:1], {"flush_l2"}, 1) == ([0.0], 1)
