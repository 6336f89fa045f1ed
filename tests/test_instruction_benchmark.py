"""The asv Instructions class's choice of cases (CEBENCH_INSTRUCTIONS_MATCH), without valgrind
runs: '^$' and a regex that matches nothing skip every combination with the reason."""

import pytest

from cebench.asvbench import InstructionBenchmark
from cebench.grid import cases
from cebench.measure import instructions


class _Bench(InstructionBenchmark, grid="instructions"):
    pass


@pytest.fixture(autouse=True)
def _valgrind_present(monkeypatch):
    monkeypatch.setattr(instructions, "unavailable_reason", lambda: None)


def _first_params():
    return next(iter(zip(*[[v[0]] for v in cases.asv_params("instructions")[0]])))


def test_an_empty_match_counts_nothing_and_says_so(monkeypatch):
    """run-suite.sh's default on a machine without a GPU."""
    monkeypatch.setenv("CEBENCH_INSTRUCTIONS_MATCH", "^$")
    monkeypatch.setattr(instructions, "measure", lambda *a, **k: pytest.fail("measured"))
    cache = _Bench().setup_cache()
    assert cache == {"unavailable": "no case matches CEBENCH_INSTRUCTIONS_MATCH='^$'"}
    with pytest.raises(NotImplementedError, match=r"no case matches"):
        _Bench().setup(cache, *_first_params())


def test_a_regex_measures_only_the_matching_cases(monkeypatch):
    monkeypatch.setenv("CEBENCH_INSTRUCTIONS_MATCH", r"^small\.contiguous\..*\.mean\.")
    asked = []

    def fake_measure(selected):
        asked.extend(c.name for c in selected)
        return [instructions.InstructionCount(c.name, p, 1000.0 + i, 3, "2.13.0", "AVX2")
                for i, c in enumerate(selected) for p in cases.PASSES], {}

    monkeypatch.setattr(instructions, "measure", fake_measure)
    cache = _Bench().setup_cache()
    assert asked == ["small.contiguous.float32.mean.w-none", "small.contiguous.float32.mean.w-random"]
    assert cache["counts"][("small.contiguous.float32.mean.w-random", "forward")] == 1001.0
    monkeypatch.setenv("CEBENCH_INSTRUCTIONS_MATCH", "no-such-case")
    assert _Bench().setup_cache() == {
        "unavailable": "no case matches CEBENCH_INSTRUCTIONS_MATCH='no-such-case'"}
