"""The float64 reference on its own terms: hand-computed cases, then agreement with torch."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from cebench.semantics import reference

# A 2×3 example worked by hand below with math.log/math.exp.
LOGITS = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
TARGET = [1, 0]
WEIGHT = [0.5, 2.0, 4.0]


def neg_log_prob(row, y):
    return math.log(sum(math.exp(v) for v in row)) - row[y]


def probs(row):
    total = sum(math.exp(v) for v in row)
    return [math.exp(v) / total for v in row]


def logits64(values=LOGITS):
    return torch.tensor(values, dtype=torch.float64)


def test_unweighted_reductions_by_hand():
    losses = [neg_log_prob(LOGITS[i], TARGET[i]) for i in range(2)]
    target = torch.tensor(TARGET)
    none = reference.cross_entropy(logits64(), target, reduction="none")
    assert none.tolist() == pytest.approx(losses, abs=1e-12)
    assert float(reference.cross_entropy(logits64(), target, reduction="sum")) == pytest.approx(
        sum(losses), abs=1e-12
    )
    assert float(reference.cross_entropy(logits64(), target)) == pytest.approx(
        sum(losses) / 2, abs=1e-12
    )


def test_weighted_mean_divides_by_sum_of_target_weights():
    target, weight = torch.tensor(TARGET), torch.tensor(WEIGHT, dtype=torch.float64)
    w0, w1 = WEIGHT[TARGET[0]], WEIGHT[TARGET[1]]  # 2.0 and 0.5
    l0, l1 = neg_log_prob(LOGITS[0], TARGET[0]), neg_log_prob(LOGITS[1], TARGET[1])
    expected_mean = (w0 * l0 + w1 * l1) / (w0 + w1)
    got = float(reference.cross_entropy(logits64(), target, weight))
    assert got == pytest.approx(expected_mean, abs=1e-12)
    assert got != pytest.approx((w0 * l0 + w1 * l1) / 2, abs=1e-3)  # not divided by N
    none = reference.cross_entropy(logits64(), target, weight, reduction="none")
    assert none.tolist() == pytest.approx([w0 * l0, w1 * l1], abs=1e-12)


def test_ignored_target_contributes_zero_and_leaves_the_denominator():
    target = torch.tensor([1, 255])
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    none = reference.cross_entropy(logits64(), target, weight, ignore_index=255, reduction="none")
    assert none.tolist() == pytest.approx([2.0 * neg_log_prob(LOGITS[0], 1), 0.0], abs=1e-12)
    mean = float(reference.cross_entropy(logits64(), target, weight, ignore_index=255))
    assert mean == pytest.approx(neg_log_prob(LOGITS[0], 1), abs=1e-12)  # (2·l0)/2


def test_nothing_selected_under_mean_is_nan_and_sum_is_zero():
    all_ignored = torch.tensor([-100, -100])
    assert math.isnan(float(reference.cross_entropy(logits64(), all_ignored)))
    assert float(reference.cross_entropy(logits64(), all_ignored, reduction="sum")) == 0.0
    zero_weight = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    assert math.isnan(float(reference.cross_entropy(logits64(), torch.tensor([0, 0]), zero_weight)))


def test_label_smoothing_with_weight_and_ignored_target_by_hand():
    eps, num_classes = 0.1, 3
    target = torch.tensor([1, -100])
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    row = LOGITS[0]
    nll = WEIGHT[1] * neg_log_prob(row, 1)
    smooth = sum(WEIGHT[c] * neg_log_prob(row, c) for c in range(num_classes))
    element = (1 - eps) * nll + eps / num_classes * smooth
    none = reference.cross_entropy(logits64(), target, weight, reduction="none",
                                   label_smoothing=eps)
    assert none.tolist() == pytest.approx([element, 0.0], abs=1e-12)
    mean = float(reference.cross_entropy(logits64(), target, weight, label_smoothing=eps))
    assert mean == pytest.approx(element / WEIGHT[1], abs=1e-12)  # both terms over Σ w[y]


def test_soft_target_mean_divides_by_positions_not_weights():
    soft = [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]
    per_row = [
        -sum(WEIGHT[c] * soft[i][c] * math.log(probs(LOGITS[i])[c]) for c in range(3))
        for i in range(2)
    ]
    target = torch.tensor(soft, dtype=torch.float64)
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    none = reference.cross_entropy(logits64(), target, weight, reduction="none")
    assert none.tolist() == pytest.approx(per_row, abs=1e-12)
    mean = float(reference.cross_entropy(logits64(), target, weight))
    assert mean == pytest.approx(sum(per_row) / 2, abs=1e-12)


def test_soft_target_label_smoothing_mixes_in_uniform():
    soft = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    eps = 0.3
    mixed = soft * (1 - eps) + eps / 3
    smoothed = reference.cross_entropy(logits64(), soft, reduction="none", label_smoothing=eps)
    explicit = reference.cross_entropy(logits64(), mixed, reduction="none")
    assert smoothed.tolist() == pytest.approx(explicit.tolist(), abs=1e-12)


def test_spatial_input_counts_every_position():
    # (N=1, C=3, d=2): the same as two rows of a (2, 3) input.
    spatial = logits64().T.unsqueeze(0)  # (1, 3, 2)
    target = torch.tensor([TARGET])
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    assert float(reference.cross_entropy(spatial, target, weight)) == pytest.approx(
        float(reference.cross_entropy(logits64(), torch.tensor(TARGET), weight)), abs=1e-12
    )


def test_one_dimensional_input():
    got = float(reference.cross_entropy(torch.tensor(LOGITS[1], dtype=torch.float64),
                                        torch.tensor(2)))
    assert got == pytest.approx(neg_log_prob(LOGITS[1], 2), abs=1e-12)


def test_gradient_is_weighted_softmax_minus_one_hot_over_weight_sum():
    target, weight = torch.tensor(TARGET), torch.tensor(WEIGHT, dtype=torch.float64)
    loss, grad = reference.loss_and_grad(logits64(), target, weight)
    total = WEIGHT[TARGET[0]] + WEIGHT[TARGET[1]]
    for i in range(2):
        w = WEIGHT[TARGET[i]]
        expected = [w * (p - (c == TARGET[i])) / total for c, p in enumerate(probs(LOGITS[i]))]
        assert grad[i].tolist() == pytest.approx(expected, abs=1e-12)
    assert loss.dtype == grad.dtype == torch.float64


def test_low_precision_input_is_upcast_exactly():
    # float16 holds these logits and weights exactly, so the loss and the gradient of the
    # float16 call are those of the same values in float64: by hand, and by torch in float64.
    half = torch.tensor(LOGITS, dtype=torch.float16)
    weight = torch.tensor(WEIGHT, dtype=torch.float16)
    target = torch.tensor(TARGET)
    assert torch.equal(half.double(), logits64())
    loss, grad = reference.loss_and_grad(half, target, weight)
    assert loss.dtype == grad.dtype == torch.float64 and grad.shape == half.shape
    w = [WEIGHT[y] for y in TARGET]
    expected_loss = sum(w[i] * neg_log_prob(LOGITS[i], TARGET[i]) for i in range(2)) / sum(w)
    assert float(loss) == pytest.approx(expected_loss, abs=1e-12)
    leaf = logits64().requires_grad_(True)
    F.cross_entropy(leaf, target, torch.tensor(WEIGHT, dtype=torch.float64)).backward()
    torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=1e-12)


def test_gradient_matches_the_references_own_finite_differences():
    """Central differences of the float64 loss, independent of autograd, for every rule."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    weight = torch.tensor([0.5, 2.0, 0.0, 1.5], dtype=torch.float64)
    soft = torch.rand(3, 4, generator=generator, dtype=torch.float64).softmax(1)
    for target, smoothing in [(torch.tensor([1, -100, 3]), 0.0),
                              (torch.tensor([1, -100, 3]), 0.3), (soft, 0.2)]:
        for reduction in ("none", "mean", "sum"):
            kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
            _, grad = reference.loss_and_grad(x, target, **kwargs)
            step, numeric = 1e-6, torch.zeros_like(x)
            for index in itertools.product(range(3), range(4)):
                up, down = x.clone(), x.clone()
                up[index] += step
                down[index] -= step
                numeric[index] = (reference.cross_entropy(up, target, **kwargs).sum()
                                  - reference.cross_entropy(down, target, **kwargs).sum()) / (
                                      2 * step)
            torch.testing.assert_close(grad, numeric, rtol=1e-6, atol=1e-8)
            assert grad.abs().sum() > 0


def test_loss_and_grad_validates_like_cross_entropy():
    """A 2-entry weight for 3 classes is refused by both entry points (targets 0 and 1
    alone would index it without error)."""
    short = torch.tensor([1.0, 2.0], dtype=torch.float64)
    for entry in (reference.cross_entropy, reference.loss_and_grad):
        with pytest.raises(ValueError, match=r"one entry per class \(3\), got shape \(2,\)"):
            entry(logits64(), torch.tensor([0, 1]), short)
        with pytest.raises(ValueError, match="reduction must be one of"):
            entry(logits64(), torch.tensor([0, 1]), reduction="avg")
        with pytest.raises(ValueError, match="label_smoothing must be in"):
            entry(logits64(), torch.tensor([0, 1]), label_smoothing=2.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bool, torch.complex64])
def test_class_index_target_must_be_integer(dtype):
    target = torch.tensor([1, 0]).to(dtype)
    with pytest.raises(ValueError, match=f"class-index target must have an integer dtype, "
                                         f"got {dtype}"):
        reference.cross_entropy(logits64(), target)


def test_integer_class_index_targets_of_any_width_are_accepted():
    for dtype in (torch.int64, torch.int32, torch.uint8):
        got = reference.cross_entropy(logits64(), torch.tensor(TARGET, dtype=dtype),
                                      reduction="none")
        assert got.tolist() == pytest.approx(
            [neg_log_prob(LOGITS[i], TARGET[i]) for i in range(2)], abs=1e-12)


def test_scalar_and_integer_inputs_are_refused():
    with pytest.raises(ValueError, match="input must have at least 1 dimension"):
        reference.cross_entropy(torch.tensor(1.0), torch.tensor(0))
    with pytest.raises(ValueError, match="input must be floating point, got torch.int64"):
        reference.cross_entropy(torch.tensor(LOGITS).long(), torch.tensor(TARGET))
    with pytest.raises(ValueError, match="input must be floating point"):
        reference.loss_and_grad(torch.tensor(LOGITS).long(), torch.tensor(TARGET))


@pytest.mark.parametrize("soft", [False, True])
def test_full_label_smoothing_is_the_uniform_target(soft):
    """label_smoothing=1.0 is allowed (torch allows it): only the uniform term is left."""
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    target = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=torch.float64) if soft \
        else torch.tensor(TARGET)
    got = reference.cross_entropy(logits64(), target, weight, reduction="none",
                                  label_smoothing=1.0)
    expected = [sum(WEIGHT[c] * neg_log_prob(LOGITS[i], c) for c in range(3)) / 3
                for i in range(2)]
    assert got.tolist() == pytest.approx(expected, abs=1e-12)
    torch.testing.assert_close(got, F.cross_entropy(logits64(), target, weight, reduction="none",
                                                    label_smoothing=1.0), rtol=1e-12, atol=1e-12)


def test_small_label_smoothing_is_not_ignored():
    """Any positive ε smooths (a threshold above 0 would drop it)."""
    target = torch.tensor(TARGET)
    plain = reference.cross_entropy(logits64(), target, reduction="none")
    tiny = reference.cross_entropy(logits64(), target, reduction="none", label_smoothing=1e-3)
    torch.testing.assert_close(tiny, F.cross_entropy(logits64(), target, reduction="none",
                                                     label_smoothing=1e-3), rtol=1e-12, atol=0)
    assert not torch.equal(tiny, plain)


@pytest.mark.parametrize(
    "logits, target, weight, kwargs, message",
    [
        ((4, 5), [0, 1, 2, 3], torch.ones(4), {}, "1-D with one entry per class"),
        ((4, 5), [0, 1, 2, 3], torch.ones(1, 5), {}, "1-D with one entry per class"),
        ((4, 5), [0, 1, 2, 3], torch.ones(5, dtype=torch.float64), {}, "dtype"),
        ((4, 5), [0, 1, 2, 5], None, {}, "target 5 is out of range"),
        ((4, 5), [0, 1, 2, -1], None, {}, "target -1 is out of range"),
        ((4, 5), [0, 1, 2], None, {}, "does not fit input shape"),
        ((4, 5), "soft", None, {"ignore_index": 0}, "not supported with probability targets"),
        ((4, 5), [0, 1, 2, 3], None, {"reduction": "avg"}, "reduction must be one of"),
        ((4, 5), [0, 1, 2, 3], None, {"label_smoothing": 1.5}, "label_smoothing"),
        ((4, 5), [0, 1, 2, 3], None, {"label_smoothing": -0.1}, "label_smoothing"),
        ((4, 5), "int-soft", None, {}, "must be floating point"),
    ],
)
def test_bad_input_raises_a_clear_value_error(logits, target, weight, kwargs, message):
    x = torch.zeros(logits)
    if target == "soft":
        target = torch.full(logits, 0.2)
    elif target == "int-soft":
        target = torch.zeros(logits, dtype=torch.long)
    else:
        target = torch.tensor(target)
    with pytest.raises(ValueError, match=message) as info:
        reference.cross_entropy(x, target, weight, **kwargs)
    assert "\n" not in str(info.value)


def test_negative_ignore_index_is_accepted_with_soft_targets():
    # torch only rejects ignore_index >= 0 for probability targets; so does the reference.
    soft = torch.full((2, 3), 1 / 3, dtype=torch.float64)
    assert math.isfinite(float(reference.cross_entropy(logits64(), soft, ignore_index=-1)))


def test_reference_never_calls_torch_cross_entropy_kernels(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the reference must not call torch's loss kernels")

    for module, name in [(F, "cross_entropy"), (F, "nll_loss"), (F, "log_softmax"),
                         (torch, "log_softmax"), (torch.Tensor, "log_softmax")]:
        monkeypatch.setattr(module, name, forbidden)
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    reference.loss_and_grad(logits64(), torch.tensor(TARGET), weight, label_smoothing=0.1)
    reference.loss_and_grad(logits64(), torch.softmax(logits64(), 1), weight)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(6,), (5, 6), (2, 6, 3), (2, 6, 2, 3), (2, 6, 1, 2, 2)])
def test_agrees_with_torch_in_float64(reduction, label_smoothing, shape):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    weight = torch.rand(6, generator=generator, dtype=torch.float64) + 0.1
    class_dim = 0 if len(shape) == 1 else 1
    index = torch.randint(0, 6, shape[:class_dim] + shape[class_dim + 1:], generator=generator)
    if index.dim():
        index.view(-1)[0] = -100
    soft = torch.randn(shape, generator=generator, dtype=torch.float64).softmax(class_dim)
    for target in (index, soft):
        kwargs = dict(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
        leaf = x.clone().requires_grad_(True)
        expected = F.cross_entropy(leaf, target, **kwargs)
        expected.sum().backward()
        loss, grad = reference.loss_and_grad(x, target, **kwargs)
        torch.testing.assert_close(loss, expected.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=1e-12)


def test_the_loss_is_computed_in_float64_whatever_the_input_dtype():
    x32 = torch.tensor(LOGITS, dtype=torch.float32)
    for target in (torch.tensor(TARGET), torch.softmax(x32, 1)):
        loss = reference.cross_entropy(x32, target, reduction="none")
        assert loss.dtype == torch.float64
        torch.testing.assert_close(loss, reference.cross_entropy(x32.double(), target.double()
                                   if target.is_floating_point() else target, reduction="none"),
                                   rtol=0, atol=0)


def test_float32_soft_targets_are_smoothed_in_float64():
    soft32 = torch.tensor([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], dtype=torch.float32)
    got = reference.cross_entropy(logits64(), soft32, reduction="none", label_smoothing=0.1)
    exact = reference.cross_entropy(logits64(), soft32.double(), reduction="none",
                                    label_smoothing=0.1)
    torch.testing.assert_close(got, exact, rtol=0, atol=0)


def test_unweighted_soft_target_by_hand():
    soft = [[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]]
    expected = [-sum(soft[i][c] * math.log(probs(LOGITS[i])[c]) for c in range(3))
                for i in range(2)]
    got = reference.cross_entropy(logits64(), torch.tensor(soft, dtype=torch.float64),
                                  reduction="none")
    assert got.tolist() == pytest.approx(expected, abs=1e-12)


def test_a_masked_class_without_smoothing_leaves_the_loss_finite():
    """A logit of -inf (a masked class) has log p = -inf; without smoothing it must not
    enter the loss (0·inf would be NaN), as in torch."""
    masked = logits64([[1.0, 2.0, -math.inf], [0.0, -1.0, 3.0]])
    target = torch.tensor(TARGET)
    for reduction in ("none", "mean", "sum"):
        got = reference.cross_entropy(masked, target, reduction=reduction)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, F.cross_entropy(masked, target, reduction=reduction),
                                   rtol=1e-12, atol=1e-12)


def test_tensors_on_another_device_are_refused():
    """The meta device stands in for a second device (no GPU needed)."""
    x, target = logits64(), torch.tensor(TARGET)
    with pytest.raises(ValueError, match=r"^target is on meta but input is on cpu$"):
        reference.cross_entropy(x, target.to("meta"))
    with pytest.raises(ValueError, match=r"^target is on meta but input is on cpu$"):
        reference.cross_entropy(x, torch.softmax(x, 1).to("meta"))
    with pytest.raises(ValueError, match=r"^weight is on meta but input is on cpu$"):
        reference.cross_entropy(x, target, torch.ones(3, dtype=torch.float64, device="meta"))


@pytest.mark.parametrize("call, message", [
    (lambda: reference.cross_entropy(torch.tensor(1.0), torch.tensor(0)),
     "input must have at least 1 dimension (C,), got a scalar"),
    (lambda: reference.cross_entropy(logits64(), torch.tensor([0, 3])),
     "target 3 is out of range for 3 classes (valid: 0..2, or ignore_index=-100)"),
    (lambda: reference.cross_entropy(logits64(), torch.zeros(2, 3, dtype=torch.long)),
     "probability target must be floating point, got torch.int64 (class indices are shaped "
     "like the input without its class dimension)"),
    (lambda: reference.cross_entropy(logits64(), torch.full((2, 3), 1 / 3), ignore_index=0),
     "ignore_index=0 is not supported with probability targets (torch accepts only a "
     "negative ignore_index there)"),
    (lambda: reference.cross_entropy(logits64(), torch.tensor([0])),
     "target shape (1,) does not fit input shape (2, 3): expected (2,) for class indices "
     "or (2, 3) for class probabilities"),
    (lambda: reference.cross_entropy(logits64(), torch.tensor(TARGET), torch.ones(3)),
     "weight dtype torch.float32 does not match input dtype torch.float64"),
])
def test_error_messages_in_full(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_the_weight_sum_of_a_float32_call_is_taken_in_float64():
    """1 + 1000 weights of 2^-30: float32 would round the 'mean' denominator by 8 ulps."""
    x32 = torch.zeros(1001, 2, dtype=torch.float32)
    weight = torch.tensor([1.0, 2.0 ** -30], dtype=torch.float32)
    target = torch.tensor([0] + [1] * 1000)
    got = reference.cross_entropy(x32, target, weight)
    exact = reference.cross_entropy(x32.double(), target, weight.double())
    assert float(got) == float(exact) == pytest.approx(math.log(2), rel=1e-15)
