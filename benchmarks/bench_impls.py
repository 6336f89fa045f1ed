"""Implementations side by side (cebench.impls): torch eager, torch.compile, Liger, Quack
and weighting by hand, each the first parameter over a grid of cebench.grid.cases.

Declarative: setup (cebench.asvbench.ImplBenchmark) skips, with the reason, what an
implementation does not support or cannot run on this device, and where its times mean
nothing (Liger on the CPU runs only under Triton's interpreter: `cebench check --impl
liger` checks it there). Each implementation is checked by `cebench check --impl NAME`;
a kernel that breaks a rule is a finding, not a result. On a CPU machine
scripts/run-suite.sh leaves these out unless CEBENCH_IMPLS=1.
"""

from cebench.asvbench import ImplBenchmark, ImplInstructionBenchmark


class ImplTime(ImplBenchmark, grid="impls"):
    """Wall time of one synchronised call per implementation (compiled outside the timing)."""

    def time_forward(self, *params):
        self.forward()

    def time_forward_backward(self, *params):
        self.forward_backward()


class ImplWeightOverhead(ImplBenchmark, grid="impl_pairs"):
    """Weighted / unweighted time of each implementation, interleaved (paired ratio)."""

    unit = "ratio"
    rounds = 1

    def track_weighted_overhead_ratio_forward(self, *params):
        return self.weighted_overhead_ratio("forward")

    def track_weighted_overhead_ratio_forward_backward(self, *params):
        return self.weighted_overhead_ratio("forward_backward")


class ImplVsEager(ImplBenchmark, grid="impls",
                  impls=("by_hand", "compile", "liger", "quack")):
    """Each implementation's time / torch eager's on the same inputs, interleaved."""

    unit = "ratio"
    rounds = 1

    def track_ratio_to_eager_forward(self, *params):
        return self.ratio_to_eager("forward")

    def track_ratio_to_eager_forward_backward(self, *params):
        return self.ratio_to_eager("forward_backward")


class ImplKernel(ImplBenchmark, grid="impls"):
    """Single-call kernel time (CUDA events, L2 flushed before each call), CUDA only."""

    unit = "seconds"
    rounds = 1
    cuda_only = True

    def track_kernel_seconds_forward(self, *params):
        return self.kernel_seconds("forward")

    def track_kernel_seconds_forward_backward(self, *params):
        return self.kernel_seconds("forward_backward")


class ImplMemory(ImplBenchmark, grid="impls"):
    """Allocator peak of one forward+backward call per implementation, CUDA only."""

    unit = "bytes"
    rounds = 1
    repeat = 1
    number = 1
    cuda_only = True

    def track_peak_allocated_delta_bytes_forward_backward(self, *params):
        return self.peak_allocated_delta_bytes("forward_backward")


class CompileTime(ImplBenchmark, grid="compile", impls=("compile",)):
    """torch.compile's first call in a fresh process on empty caches (dynamo, AOTAutograd,
    inductor and the C++/Triton compiler, plus the call), per pass: paid once per graph."""

    unit = "seconds"
    rounds = 1
    repeat = 1
    number = 1
    warm = False

    def track_compile_seconds_forward(self, *params):
        return self.first_call_seconds("forward")

    def track_compile_seconds_forward_backward(self, *params):
        return self.first_call_seconds("forward_backward")


class ImplInstructions(ImplInstructionBenchmark, grid="impl_instructions",
                       impls=("eager", "compile", "by_hand")):
    """Instructions per call under valgrind (CPU, one thread): eager against compile and by
    hand, deterministic where wall time is noise. Off unless CEBENCH_INSTRUCTIONS_MATCH
    selects cases (run-suite.sh's CPU default selects none)."""

    def track_instructions_forward(self, counts, *params):
        return self.instructions(counts, "forward")

    def track_instructions_forward_backward(self, counts, *params):
        return self.instructions(counts, "forward_backward")
