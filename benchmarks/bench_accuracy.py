"""Numerical accuracy of low-precision cross entropy against cebench's float64 reference.

The same parameters on every machine; the case (N×C logits, seeded) and the device
("cuda" when available) are chosen inside ``cebench.semantics.conformance.accuracy_relative_error``.
The autocast dtypes follow that device's autocast rule (docs/semantics.md): on CUDA the
log-softmax runs in float16/bfloat16, on the CPU the whole loss in float32, so the two
machines' autocast figures differ by design.
"""

from cebench.semantics import conformance


class Accuracy:
    params = (
        list(conformance.ACCURACY_DTYPES),
        list(conformance.REDUCTIONS),
        list(conformance.ACCURACY_WEIGHTINGS),
    )
    param_names = ["dtype", "reduction", "weighting"]
    rounds = 1
    repeat = 1

    def track_loss_relative_error(self, dtype, reduction, weighting):
        return conformance.accuracy_relative_error(dtype, reduction, weighting, quantity="loss")

    track_loss_relative_error.unit = "relative error"

    def track_grad_relative_error(self, dtype, reduction, weighting):
        return conformance.accuracy_relative_error(dtype, reduction, weighting, quantity="grad")

    track_grad_relative_error.unit = "relative error"
