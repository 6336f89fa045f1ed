"""cebench.measure.roofline: the bytes models on hand-computed cases, the model against torch's
own op sequence (profiler, CPU), and the per-machine peak-bandwidth cache."""

import json

import pytest

from cebench.measure import roofline
from cebench.grid.cases import Case

N, C = 4096, 128  # the "small" family
L32 = N * C * 4


def _fake_peak(device, bytes_per_s=1e10):
    return roofline.PeakBandwidth(device=device, machine="test-machine",
                                  bytes_per_s=bytes_per_s, copy_bytes=1 << 20, median_s=1e-4,
                                  rel_iqr=0.01, samples=10, torch_version="x",
                                  measured_at="2026-01-01T00:00:00+00:00")


# --- minimum bytes --------------------------------------------------------------------

def test_minimum_bytes_forward_hand_computed():
    # read logits + int64 targets, write one fp32 loss
    assert roofline.minimum_bytes(Case("small"), "forward") == L32 + N * 8 + 4
    # + the weight (C fp32)
    assert roofline.minimum_bytes(Case("small", weighting="random"), "forward") == \
        L32 + N * 8 + C * 4 + 4
    # reduction 'none' writes N losses
    assert roofline.minimum_bytes(Case("small", reduction="none"), "forward") == \
        L32 + N * 8 + N * 4


def test_minimum_bytes_forward_backward_adds_the_gradient():
    case = Case("small", weighting="random")
    assert roofline.minimum_bytes(case, "forward_backward") == \
        roofline.minimum_bytes(case, "forward") + L32
    none = Case("small", reduction="none")  # also reads grad_output (N)
    assert roofline.minimum_bytes(none, "forward_backward") == \
        roofline.minimum_bytes(none, "forward") + L32 + N * 4


def test_minimum_bytes_half_precision_segmentation_and_soft_targets():
    seg = Case("small-seg", dtype="bfloat16")  # (2, 21, 64, 64): R = 2*64*64 targets
    R = 2 * 64 * 64
    assert roofline.minimum_bytes(seg, "forward") == R * 21 * 2 + R * 8 + 2
    # autocast reads the stored (bf16) logits; the minimum ignores the fp32 compute
    auto = Case("small", dtype="autocast_bfloat16")
    assert roofline.minimum_bytes(auto, "forward") == N * C * 2 + N * 8 + 2
    soft = Case("small", layout="prob_targets")  # targets as big as the logits
    assert roofline.minimum_bytes(soft, "forward") == 2 * L32 + 4
    assert roofline.minimum_bytes(soft, "forward_backward") == 3 * L32 + 4


def test_bad_pass_is_rejected():
    with pytest.raises(ValueError, match="unknown pass"):
        roofline.minimum_bytes(Case("small"), "backward")
    with pytest.raises(ValueError, match="positive"):
        roofline.achieved_bandwidth(Case("small"), "forward", 0.0)


# --- eager bytes ----------------------------------------------------------------------

def test_eager_forward_backward_moves_about_six_logits():
    case = Case("small", weighting="random")
    kernels = roofline.eager_kernels(case, "forward_backward")
    assert [k.name for k in kernels] == ["_log_softmax", "nll_loss_forward",
                                         "nll_loss_backward", "_log_softmax_backward_data"]
    dense = sum(k.total_bytes for k in kernels)
    # 2 L (log_softmax) + 1 L (zero fill) + 3 L (softmax backward) + per-target terms
    small_terms = (N * 4 + N * 8 + N * 4) + (N * 8 + C * 4 + N * 4) + 4
    assert dense == 6 * L32 + small_terms
    assert roofline.eager_bytes(case, "forward") == 2 * L32 + N * 4 + N * 8 + N * 4 + 4


def test_eager_model_extra_kernels_for_layouts_autocast_and_cpu_2d_backward():
    base = roofline.eager_bytes(Case("small-seg"), "forward_backward", "cuda")
    seg_l = 2 * 21 * 64 * 64 * 4
    assert roofline.eager_bytes(Case("small-seg", layout="channels_last"),
                                "forward_backward", "cuda") == base + 2 * seg_l
    # the CPU's nll_loss2d_backward zero-fills twice
    assert roofline.eager_bytes(Case("small-seg"), "forward_backward", "cpu") == base + seg_l
    auto = roofline.eager_kernels(Case("small", dtype="autocast_float16"), "forward_backward",
                                  dispatch="cpu")
    assert auto[0] == roofline.KernelTraffic("to(float32)", N * C * 2, L32)
    assert auto[-1] == roofline.KernelTraffic("to(storage dtype)", L32, N * C * 2)


def test_cuda_autocast_runs_log_softmax_low_and_nll_loss_in_float32():
    """CUDA rules (torch 2.13: no AutocastCUDA kernel for cross_entropy_loss): log_softmax
    and its backward in fp16 (L16), nll_loss on an fp32 copy, its gradient cast back."""
    L16 = N * C * 2
    kernels = roofline.eager_kernels(Case("small", dtype="autocast_float16"), "forward_backward")
    assert [(k.name, k.read_bytes, k.write_bytes) for k in kernels] == [
        ("_log_softmax", L16, L16),
        ("logp.to(float32)", L16, L32),
        ("nll_loss_forward", N * 4 + N * 8, 4),
        ("nll_loss_backward", N * 8, L32 + N * 4),
        ("grad.to(storage dtype)", L32, L16),
        ("_log_softmax_backward_data", 2 * L16, L16),
    ]
    with pytest.raises(ValueError, match="unknown dispatch"):
        roofline.eager_kernels(Case("small"), "forward", dispatch="xpu")


def test_eager_is_never_below_the_minimum():
    from cebench.grid.cases import all_cases

    for case, _ in all_cases().values():
        if case.invalid_reason():
            continue
        for pass_ in ("forward", "forward_backward"):
            assert roofline.eager_bytes(case, pass_) >= roofline.minimum_bytes(case, pass_) \
                or case.target_kind == "probability", case.name


#: aten ops that read or write a whole logits-sized tensor (ops with data movement).
_DENSE_OPS = {"aten::_log_softmax", "aten::nll_loss_forward", "aten::nll_loss2d_forward",
              "aten::fill_", "aten::copy_", "aten::_log_softmax_backward_data", "aten::mul",
              "aten::add_", "aten::add", "aten::sum"}


def _torch_dense_ops(case, pass_):
    """The dense aten ops torch runs for one call that touch a logits-sized tensor."""
    from torch.profiler import ProfilerActivity, profile

    from cebench.grid.inputs import build_inputs, loss_call

    fn = loss_call(build_inputs(case, "cpu"), pass_)
    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fn()
    return sorted(e.name for e in prof.events() if e.name in _DENSE_OPS
                  and any(tuple(s) == case.shape for s in (e.input_shapes or [])))


def _model_as_aten_ops(case, pass_, dispatch="cpu"):
    """The model's kernels, named as the aten ops the profiler shows for them."""
    nll_fp32 = case.autocast_dtype and (dispatch == "cpu" or case.target_kind == "index")
    L_nll = case.num_targets * case.num_classes * (4 if nll_fp32 else case.element_bytes)
    nll = "aten::nll_loss2d_forward" if len(case.shape) == 4 else "aten::nll_loss_forward"
    ops = []
    for k in roofline.eager_kernels(case, pass_, "cpu", dispatch=dispatch):
        if k.name == "nll_loss_backward":
            ops += ["aten::fill_"] * (k.write_bytes // L_nll)  # its zero fills
        else:
            ops.append({"_log_softmax": "aten::_log_softmax", "nll_loss_forward": nll,
                        "contiguous": "aten::copy_", "to(float32)": "aten::copy_",
                        "to(storage dtype)": "aten::copy_", "logp.to(float32)": "aten::copy_",
                        "grad.to(storage dtype)": "aten::copy_",
                        "_log_softmax_backward_data": "aten::_log_softmax_backward_data",
                        "mul(weight)": "aten::mul", "mul(logp,target)": "aten::mul",
                        "mul_backward(weight)": "aten::mul",
                        "mul_backward(target)": "aten::mul", "sum": "aten::sum",
                        "sum(class)": "aten::sum", "add_": "aten::add_", "add": "aten::add",
                        }[k.name])
    return sorted(ops)


@pytest.mark.parametrize("case", [
    Case("small", weighting="random"),
    Case("small", layout="noncontig"),
    Case("small", dtype="autocast_bfloat16"),
    Case("small-seg", weighting="random"),  # CPU nll_loss2d_backward zero-fills twice
    Case("small-seg", layout="channels_last"),
    Case("small", weighting="random", label_smoothing=0.1),
    Case("small", label_smoothing=0.1),
    Case("small", layout="prob_targets", weighting="random"),
    Case("small", layout="prob_targets"),
], ids=lambda c: c.name)
@pytest.mark.parametrize("pass_", ["forward", "forward_backward"])
def test_eager_model_matches_torch_op_sequence(case, pass_):
    """The model's dense kernels are, one to one, the dense ops torch runs (profiler)."""
    assert _model_as_aten_ops(case, pass_) == _torch_dense_ops(case, pass_)


@pytest.mark.parametrize("case", [
    Case("small", dtype="autocast_bfloat16"),
    Case("small", dtype="autocast_float16", weighting="random", label_smoothing=0.1),
    Case("small-seg", dtype="autocast_bfloat16", layout="channels_last"),
    Case("small", dtype="autocast_bfloat16", layout="prob_targets", weighting="random"),
], ids=lambda c: c.name)
@pytest.mark.parametrize("pass_", ["forward", "forward_backward"])
def test_eager_model_cuda_autocast_branch_matches_the_cpu_replay(case, pass_,
                                                                 cuda_autocast_replay):
    """The CUDA autocast kernels, one to one, against torch's ops under a CPU replay of
    CUDA dispatch (conftest's cuda_autocast_replay)."""
    assert _model_as_aten_ops(case, pass_, "cuda") == _torch_dense_ops(case, pass_)


# --- peak bandwidth cache -------------------------------------------------------------

def test_peak_bandwidth_is_measured_once_then_reused(tmp_path):
    path = tmp_path / "m" / "peak-bandwidth-cpu.json"
    calls = []

    def fake_measure(device):
        calls.append(device)
        return _fake_peak(device, 12.5e9)

    first = roofline.peak_bandwidth("cpu", cache_path=path, measure=fake_measure)
    assert first.bytes_per_s == 12.5e9 and calls == ["cpu"]
    data = json.loads(path.read_text())
    assert data["version"] == roofline.CACHE_VERSION and data["bytes_per_s"] == 12.5e9
    again = roofline.peak_bandwidth("cpu", cache_path=path, measure=fake_measure)
    assert again == first and calls == ["cpu"]  # reused, not measured
    roofline.peak_bandwidth("cpu", cache_path=path, measure=fake_measure, refresh=True)
    assert calls == ["cpu", "cpu"]


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "device": "cpu"}',
                                     '{"version": 99}', json.dumps(
                                         {**_fake_peak("cpu").as_dict(), "bytes_per_s": -1})])
def test_corrupt_peak_cache_warns_and_measures_again(tmp_path, content):
    path = tmp_path / "peak-bandwidth-cpu.json"
    path.write_text(content)
    with pytest.warns(UserWarning, match="ignoring the peak-bandwidth cache"):
        peak = roofline.peak_bandwidth("cpu", cache_path=path,
                                       measure=lambda d: _fake_peak(d, 3e9))
    assert peak.bytes_per_s == 3e9
    assert json.loads(path.read_text())["bytes_per_s"] == 3e9  # rewritten


def test_default_cache_path_is_per_machine_and_outside_results(tmp_path, monkeypatch):
    monkeypatch.setenv("CEBENCH_CACHE_DIR", str(tmp_path))
    path = roofline.default_cache_path("cuda", machine="nvidia-h200-x1")
    assert path == tmp_path / "nvidia-h200-x1" / "peak-bandwidth-cuda.json"
    monkeypatch.delenv("CEBENCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert roofline.default_cache_path("cpu", "m") == \
        tmp_path / "xdg" / "cebench" / "m" / "peak-bandwidth-cpu.json"


def test_measure_peak_bandwidth_on_the_cpu_counts_read_and_write():
    peak = roofline.measure_peak_bandwidth("cpu", copy_bytes=4 << 20, budget_s=0.05)
    assert peak.copy_bytes == 4 << 20
    assert peak.bytes_per_s == pytest.approx(2 * (4 << 20) / peak.median_s)
    assert peak.samples >= 10 and peak.device == "cpu"


# --- more of the model, by hand -----------------------------------------------------------

def test_achieved_bandwidth_is_minimum_bytes_over_seconds():
    case = Case("small", weighting="random")
    assert roofline.achieved_bandwidth(case, "forward", 0.25) == \
        (L32 + N * 8 + C * 4 + 4) / 0.25
    assert roofline.achieved_bandwidth(case, "forward_backward", 2.0) == \
        (2 * L32 + N * 8 + C * 4 + 4) / 2.0
    with pytest.raises(ValueError, match=r"^seconds must be positive, not -1\.0$"):
        roofline.achieved_bandwidth(case, "forward", -1.0)


def test_kernel_traffic_adds_reads_and_writes():
    assert roofline.KernelTraffic("k", 3, 5).total_bytes == 8


def test_both_models_reject_an_unknown_pass():
    for model in (roofline.minimum_bytes, roofline.eager_kernels, roofline.eager_bytes):
        with pytest.raises(ValueError, match=r"^unknown pass 'backward'; expected one of "
                                             r"forward, forward_backward$"):
            model(Case("small"), "backward")


def _kernels(case, pass_, device="cuda"):
    return [(k.name, k.read_bytes, k.write_bytes)
            for k in roofline.eager_kernels(case, pass_, device)]


@pytest.mark.parametrize("weighted", [False, True])
def test_eager_label_smoothing_kernels_by_hand(weighted):
    case = Case("small", weighting="random" if weighted else "none", label_smoothing=0.1,
                reduction="none")
    L, R, w = L32, N * 4, (C * 4 if weighted else 0)
    forward = [("_log_softmax", L, L),
               ("nll_loss_forward", R + N * 8 + (R if weighted else 0), R)]
    backward = [("nll_loss_backward", N * 8 + w, L + R)]
    if weighted:
        forward.append(("mul(weight)", L + w, L))
        backward.append(("mul_backward(weight)", R + w, L))
    forward.append(("sum(class)", L, R))
    backward.append(("add_", 2 * L, L) if weighted else ("add", L + R, L))
    backward.append(("_log_softmax_backward_data", 2 * L, L))
    assert _kernels(case, "forward") == forward
    assert _kernels(case, "forward_backward") == forward + backward


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_eager_probability_target_kernels_by_hand(weighted, smoothing):
    case = Case("small", layout="prob_targets", weighting="random" if weighted else "none",
                label_smoothing=smoothing)
    L, w = L32, (C * 4 if weighted else 0)
    forward = [("_log_softmax", L, L)]
    if smoothing:
        forward += [("target*(1-eps)", L, L), ("+eps/C", L, L)]
    forward.append(("mul(logp,target)", 2 * L, L))
    if weighted:
        forward.append(("mul(weight)", L + w, L))
    forward.append(("sum", L, 4))
    backward = [("mul_backward(weight)", w, L)] if weighted else []
    backward += [("mul_backward(target)", 2 * L if weighted else L, L),
                 ("_log_softmax_backward_data", 2 * L, L)]
    assert _kernels(case, "forward") == forward
    assert _kernels(case, "forward_backward") == forward + backward


def test_eager_half_precision_and_strided_2d_by_hand():
    half = Case("small", dtype="float16", layout="noncontig", reduction="sum")
    L = N * C * 2
    assert _kernels(half, "forward_backward", "cpu") == [
        ("contiguous", L, L), ("_log_softmax", L, L),
        ("nll_loss_forward", N * 2 + N * 8, 2),
        ("nll_loss_backward", N * 8, L + N * 2),  # 2-D: one zero fill, on the CPU too
        ("_log_softmax_backward_data", 2 * L, L)]


# --- more of the cache ---------------------------------------------------------------------

def test_peak_bandwidth_record_carries_the_cache_version():
    peak = _fake_peak("cuda")
    assert peak.as_dict()["version"] == roofline.CACHE_VERSION == 1
    assert roofline.PeakBandwidth(**{k: v for k, v in peak.as_dict().items()
                                     if k != "version"}) == peak


def test_missing_cache_is_measured_without_a_warning(tmp_path, recwarn):
    path = tmp_path / "new" / "peak-bandwidth-cpu.json"
    assert roofline.load_peak_bandwidth(path) is None
    peak = roofline.peak_bandwidth("cpu", cache_path=path, measure=lambda d: _fake_peak(d, 5e9))
    assert peak.bytes_per_s == 5e9 and path.exists()
    assert not list(path.parent.glob("*.tmp"))  # written through a temporary file
    assert not recwarn.list


@pytest.mark.parametrize("content, reason", [
    ("[]", "not a JSON object"), ("3", "not a JSON object"), ('"text"', "not a JSON object"),
    (json.dumps({k: v for k, v in _fake_peak("cpu").as_dict().items() if k != "version"}),
     "unknown cache version"),
    (json.dumps({**_fake_peak("cpu").as_dict(), "extra": 1}), "unexpected keyword argument"),
    (json.dumps({**_fake_peak("cpu").as_dict(), "bytes_per_s": 0}),
     "bytes_per_s 0 is not positive"),
])
def test_cache_of_the_wrong_form_warns_and_measures_again(tmp_path, content, reason):
    path = tmp_path / "peak-bandwidth-cpu.json"
    path.write_text(content)
    with pytest.warns(UserWarning) as record:
        assert roofline.load_peak_bandwidth(path) is None
    (warning,) = record
    assert str(warning.message).startswith(f"cebench: ignoring the peak-bandwidth cache {path} (")
    assert str(warning.message).endswith(f"({reason}); measuring again") or \
        reason == "unexpected keyword argument" and reason in str(warning.message)


def test_cache_of_another_device_is_measured_again(tmp_path):
    path = tmp_path / "peak-bandwidth-cpu.json"
    path.write_text(json.dumps(_fake_peak("cuda", 9e11).as_dict()))
    peak = roofline.peak_bandwidth("cpu", cache_path=path, measure=lambda d: _fake_peak(d, 4e9))
    assert (peak.device, peak.bytes_per_s) == ("cpu", 4e9)
    assert json.loads(path.read_text())["device"] == "cpu"


def test_unwritable_cache_warns_and_still_returns_the_measurement(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = blocker / "peak-bandwidth-cpu.json"  # its parent is a file
    with pytest.warns(UserWarning) as record:
        peak = roofline.peak_bandwidth("cpu", cache_path=path,
                                       measure=lambda d: _fake_peak(d, 6e9))
    assert peak.bytes_per_s == 6e9
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and "ignoring the peak-bandwidth cache" in messages[0]
    assert "could not write the peak-bandwidth cache" in messages[1]


def test_default_cache_path_under_home_and_for_this_machine(tmp_path, monkeypatch):
    from cebench.environment import machine_name

    monkeypatch.delenv("CEBENCH_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert roofline.default_cache_path("cpu") == \
        tmp_path / ".cache" / "cebench" / machine_name() / "peak-bandwidth-cpu.json"


def test_default_copy_sizes():
    assert roofline.default_copy_bytes("cuda") == 2**30
    assert roofline.default_copy_bytes("cpu") == 256 * 2**20


def test_measure_peak_bandwidth_times_a_copy_with_the_l2_flushed(monkeypatch):
    """timing.measure replaced by a recorder: what is timed, and how the record is filled."""
    import datetime

    import torch

    from cebench.environment import machine_name
    from cebench.measure import timing

    calls = []

    def fake_measure(fn, device, **kwargs):
        calls.append((device, kwargs))
        destination = fn()
        calls.append(destination.clone())
        return timing.Measurement(samples_s=[0.002, 0.001, 0.003, 0.004], device=device)

    monkeypatch.setattr(timing, "measure", fake_measure)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.device("meta"):  # what it allocates goes to the device asked for
            peak = roofline.measure_peak_bandwidth("cpu", copy_bytes=1 << 20)
    finally:
        torch.set_default_dtype(previous)
    (device, kwargs), copied = calls
    assert device == "cpu" and kwargs == {"budget_s": 2.0, "min_samples": 10, "flush_l2": True}
    assert copied.device.type == "cpu" and copied.dtype == torch.float32
    assert copied.numel() == (1 << 20) // 4 and bool((copied == 1.0).all())  # the copy ran
    median = timing.Measurement(samples_s=[0.002, 0.001, 0.003, 0.004], device="cpu")
    assert peak == roofline.PeakBandwidth(
        device="cpu", machine=machine_name(), bytes_per_s=2 * (1 << 20) / median.median_s,
        copy_bytes=1 << 20, median_s=median.median_s, rel_iqr=median.rel_iqr, samples=4,
        torch_version=torch.__version__, measured_at=peak.measured_at)
    assert type(peak.copy_bytes) is int
    measured_at = datetime.datetime.fromisoformat(peak.measured_at)
    assert measured_at.utcoffset() == datetime.timedelta(0)
    assert abs(datetime.datetime.now(datetime.timezone.utc) - measured_at).total_seconds() < 600


def test_measure_peak_bandwidth_defaults_to_the_devices_copy_size(monkeypatch):
    from cebench.measure import timing

    sizes = []
    monkeypatch.setattr(roofline, "default_copy_bytes", lambda device: sizes.append(device)
                        or 1 << 16)
    monkeypatch.setattr(timing, "measure", lambda fn, device, **kw: timing.Measurement(
        samples_s=[1e-3] * 10, device=device))
    peak = roofline.measure_peak_bandwidth("cpu", budget_s=0.5)
    assert sizes == ["cpu"] and peak.copy_bytes == 1 << 16


def test_compute_bytes_are_the_storage_bytes_without_autocast():
    L16 = N * C * 2
    assert roofline.eager_bytes(Case("small", dtype="float16"), "forward") == \
        2 * L16 + N * 2 + N * 8 + 2
    # CPU autocast rules: cast to float32 first, then the whole loss in float32
    assert roofline.eager_bytes(Case("small", dtype="autocast_float16"), "forward", "cpu") == \
        (L16 + L32) + 2 * L32 + N * 4 + N * 8 + 4


def test_the_eager_model_defaults_to_cuda():
    seg = Case("small-seg")
    assert roofline.eager_bytes(seg, "forward_backward") == \
        roofline.eager_bytes(seg, "forward_backward", "cuda") != \
        roofline.eager_bytes(seg, "forward_backward", "cpu")
    assert roofline.eager_kernels(seg, "forward_backward") == \
        roofline.eager_kernels(seg, "forward_backward", "cuda")


def test_cache_file_is_readable_json_in_nested_folders_and_warnings_say_why(
        tmp_path, monkeypatch):
    monkeypatch.setenv("CEBENCH_CACHE_DIR", str(tmp_path / "a" / "b"))
    peak = roofline.peak_bandwidth("cpu", measure=lambda d: _fake_peak(d, 7e9))
    path = roofline.default_cache_path("cpu")
    assert path.read_text() == json.dumps(peak.as_dict(), indent=1) + "\n"
    path.write_text('{"version": 99}')
    with pytest.warns(UserWarning) as record:
        assert roofline.load_peak_bandwidth(path) is None
    assert str(record[0].message) == (f"cebench: ignoring the peak-bandwidth cache {path} "
                                      "(unknown cache version); measuring again")
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.warns(UserWarning) as record:
        roofline.peak_bandwidth("cpu", cache_path=blocked / "x.json", refresh=True,
                                measure=lambda d: _fake_peak(d))
    assert len(record) == 1 and str(record[0].message).startswith(
        f"cebench: could not write the peak-bandwidth cache {blocked / 'x.json'} (")


def test_any_positive_bandwidth_is_a_valid_cache(tmp_path):
    path = tmp_path / "peak.json"
    path.write_text(json.dumps({**_fake_peak("cpu").as_dict(), "bytes_per_s": 0.5}))
    assert roofline.load_peak_bandwidth(path).bytes_per_s == 0.5


def test_eager_bytes_follow_the_chosen_dispatch():
    case = Case("small", dtype="autocast_bfloat16", weighting="random", label_smoothing=0.1)
    for device, dispatch in [("cpu", "cuda"), ("cuda", "cpu")]:
        kernels = roofline.eager_kernels(case, "forward_backward", device, dispatch=dispatch)
        assert roofline.eager_bytes(case, "forward_backward", device, dispatch=dispatch) == \
            sum(k.total_bytes for k in kernels)
        assert kernels != roofline.eager_kernels(case, "forward_backward", device)
