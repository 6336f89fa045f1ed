"""`cebench profile CASE`: one case under torch.profiler and the NVML sampler.

Writes into ``--out`` (file names start with ``<case>.<pass>``):

* ``.timeline.png`` — memory over time (allocator events from the profiler; NVML
  device memory used when NVML runs) and the SM clock;
* ``.trace.json`` — the Chrome trace (chrome://tracing, Perfetto);
* ``.summary.json`` — case, device, torch version, wall time per call (without the
  profiler), allocator peaks (measured and the analytical expectation), the NVML summary
  or why it is unavailable, top ops by self time with their share of the total.

On the CPU the profiler records CPU memory events and NVML is reported unavailable.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

PASS_CHOICES = ("forward", "forward_backward")


def profile_case(inputs, pass_: str, iterations: int, out_dir: Path) -> dict:
    """Profile ``iterations`` calls of one pass; write the three files; return the summary."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from cebench.measure import memory
    from cebench.measure import nvml
    from cebench.measure import timing
    from cebench.environment import machine_name
    from cebench.grid.inputs import loss_call

    case, device = inputs.case, inputs.device
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{case.name}.{pass_}"
    fn = loss_call(inputs, pass_)
    fn()  # warm: kernels chosen, caches filled
    timing.synchronize(device)
    wall_s = []
    for _ in range(iterations):  # without the profiler, which slows small calls down
        start = time.perf_counter()
        fn()
        timing.synchronize(device)
        wall_s.append(time.perf_counter() - start)
    nvml.release_cached_memory()  # else NVML's baseline already holds the warm-up's pool

    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    torch_index = torch.cuda.current_device() if device == "cuda" else None
    sampler = nvml.NvmlSampler(torch_index, nvml_index=None)
    with sampler, profile(activities=activities, profile_memory=True,
                          record_shapes=True) as prof:
        for _ in range(iterations):
            result = fn()
            del result
        timing.synchronize(device)
    events = memory.profiler_memory_events(prof, device)
    prof.export_chrome_trace(str(stem) + ".trace.json")

    measured = {}
    for p in PASS_CHOICES:
        call = loss_call(inputs, p)
        if device == "cuda":
            peak = memory.allocator_peak(call)
            measured[p] = {"source": "torch.cuda.max_memory_allocated - baseline",
                           "peak_allocated_delta_bytes": peak.peak_allocated_delta_bytes,
                           "peak_reserved_delta_bytes": peak.peak_reserved_delta_bytes,
                           "baseline_allocated_bytes": peak.baseline_allocated_bytes}
        else:
            measured[p] = {"source": "torch.profiler CPU memory events (no CPU allocator stats)",
                           "peak_allocated_delta_bytes": memory.profiler_peak_bytes(call, device)}
        measured[p]["expected_peak_bytes"] = memory.expected_peak_bytes(case, p, device)

    nvml_summary = sampler.summary
    summary = {
        "case": case.name, "case_params": case.as_dict(), "shape": list(case.shape),
        "pass": pass_, "iterations": iterations, "device": device,
        "device_name": (torch.cuda.get_device_name(torch_index) if device == "cuda"
                        else machine_name()),
        "torch_version": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "logits_bytes": case.logits_bytes,
        "wall_s_per_call": {"median": statistics.median(wall_s), "calls": len(wall_s),
                            "source": "perf_counter, synchronised, without the profiler"},
        "allocator_peaks": measured,
        "nvml": nvml_summary.as_dict(),
        "top_ops": _top_ops(prof, device),
        "files": {
            "timeline_png": str(stem) + ".timeline.png",
            "chrome_trace": str(stem) + ".trace.json",
            "summary_json": str(stem) + ".summary.json",
        },
    }
    _plot_timeline(summary, events, sampler, summary["files"]["timeline_png"])
    with open(summary["files"]["summary_json"], "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def _top_ops(prof, device: str, limit: int = 10) -> list[dict]:
    """The ``limit`` entries with the most self time, each with its ``share`` of the total:
    on CUDA the device's kernels (and copies) by device time, on the CPU the ops by self
    CPU time (self times do not overlap, so shares add up to at most 1)."""
    rows = []
    for avg in prof.key_averages():
        device_us = getattr(avg, "self_device_time_total", None)
        if device_us is None:
            device_us = getattr(avg, "self_cuda_time_total", 0)
        rows.append({
            "name": avg.key, "calls": avg.count,
            "self_cpu_time_us": avg.self_cpu_time_total,
            "self_device_time_us": device_us,
            "self_memory_bytes": (getattr(avg, "self_device_memory_usage", 0)
                                  if device == "cuda" else avg.self_cpu_memory_usage),
            "on_device": str(getattr(avg, "device_type", "")).endswith("CUDA"),
        })
    key = "self_device_time_us" if device == "cuda" else "self_cpu_time_us"
    if device == "cuda":  # an op's device time is its kernels': count the kernels only
        rows = [r for r in rows if r["on_device"]]
    total = sum(r[key] for r in rows)
    for r in rows:
        r["share"] = r[key] / total if total else 0.0
    rows.sort(key=lambda r: r[key], reverse=True)
    return rows[:limit]


def _plot_timeline(summary: dict, events, sampler, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cebench.measure.memory import live_bytes_series

    fig, (ax_mem, ax_clk) = plt.subplots(2, 1, figsize=(10, 6), sharex=False)
    series = live_bytes_series(events)
    if series:
        t0 = series[0][0]
        series = [(t0, 0)] + series
        ax_mem.step([(t - t0) / 1e6 for t, _ in series], [b / 2**20 for _, b in series],
                    where="post", label=f"allocator live bytes ({summary['device']}, profiler)")
    samples = sampler.samples
    nvml_state = summary["nvml"]
    if samples and any(s.used_bytes is not None for s in samples):
        t0, base = samples[0].t_s, samples[0].used_bytes or 0
        pts = [((s.t_s - t0) * 1e3, (s.used_bytes - base) / 2**20)
               for s in samples if s.used_bytes is not None]
        ax_mem.plot(*zip(*pts), ".-", ms=2, label="NVML device used - baseline")
    ax_mem.set_ylabel("MiB over start")
    ax_mem.set_xlabel("ms from each series' first event")
    ax_mem.set_title(f"{summary['case']} {summary['pass']} x{summary['iterations']} "
                     f"on {summary['device_name']} (torch {summary['torch_version']})",
                     fontsize=9)
    ax_mem.legend(fontsize=8, loc="upper right")
    clocks = [((s.t_s - samples[0].t_s) * 1e3, s.sm_clock_mhz)
              for s in samples if s.sm_clock_mhz is not None]
    if clocks:
        ax_clk.plot(*zip(*clocks), ".-", ms=2, label="SM clock (NVML)")
        ax_clk.set_ylabel("MHz")
        ax_clk.set_xlabel("ms from the first NVML sample")
        ax_clk.legend(fontsize=8)
    else:
        reason = nvml_state.get("reason") or "SM clock not reported"
        ax_clk.text(0.5, 0.5, f"no clock data: {reason}", ha="center", va="center",
                    wrap=True, transform=ax_clk.transAxes, fontsize=9)
        ax_clk.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

