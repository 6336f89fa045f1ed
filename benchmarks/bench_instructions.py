"""Instructions per call of cross entropy under valgrind: the deterministic CPU cost.

One valgrind process counts the whole grid once per environment (``setup_cache``);
see cebench.measure.instructions and docs/measurement.md.
"""

from cebench.asvbench import InstructionBenchmark


class Instructions(InstructionBenchmark, grid="instructions"):
    """Per case: family x layout x reduction x weighted, on one CPU thread."""

    def track_instructions_forward(self, counts, *params):
        return self.instructions(counts, "forward")

    def track_instructions_forward_backward(self, counts, *params):
        return self.instructions(counts, "forward_backward")
