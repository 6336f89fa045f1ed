"""Every output whole or not at all: each interrupted (Ctrl-C) at many points, and failed.

A Ctrl-C reaches Python between two lines of code. :class:`Interrupt` raises
KeyboardInterrupt at the k-th line executed in chosen source files (a trace function, so
the points are lines of the write path itself, not moments picked by a sleep): first the
run is counted without interruption, then it is repeated, interrupted at each point (all
of them for the helper itself, an even spread for each command). After every interruption
the output must be byte for byte what it was before, with no temporary file or folder
left beside it; after the complete run, the new output.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import stat
import sys
from pathlib import Path

import pytest

from cebench import atomic
from cebench.cli import main
from cebench.errors import InputError

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "asv-results"  # torch 2.13.0 and 2.14.1, one run each
ATOMIC = Path(atomic.__file__).resolve()


class Interrupt:
    """KeyboardInterrupt at the ``at``-th line executed in ``files`` (None: count only).

    As with a real SIGINT, an interruption that falls where SIGINT is blocked
    (:func:`cebench.atomic.replace_dir`'s two renames) is raised at the first line after it
    is unblocked. ``try:`` lines are not points: there the interpreter runs a no-op, where
    a signal is never raised, and CPython 3.11 lets an exception that a trace function
    raises there escape the enclosing handlers (which a real Ctrl-C cannot do)."""

    def __init__(self, files, at: int | None = None):
        self.files = {str(Path(f).resolve()) for f in files}
        self.at = at
        self.lines = 0
        self.where = None
        self._source: dict[str, list[str]] = {}

    def _call(self, frame, event, arg):
        return self._line if frame.f_code.co_filename in self.files else None

    def _is_try(self, frame) -> bool:
        name = frame.f_code.co_filename
        if name not in self._source:
            self._source[name] = Path(name).read_text().splitlines()
        return self._source[name][frame.f_lineno - 1].strip() == "try:"

    def _line(self, frame, event, arg):
        if event == "line" and not self._is_try(frame):
            self.lines += 1
            if self.at is not None and self.lines >= self.at and self.where is None \
                    and signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, []):
                self.where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
                raise KeyboardInterrupt(self.where)  # the trace is unset: once per run
        return self._line

    def __enter__(self):
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)
        return False


#: Files whose content differs between two complete runs (notebooks' measured seconds).
VOLATILE = {".timings.json"}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``folder``."""
    if not folder.exists():
        return {}
    found = {".": None}
    for path in sorted(folder.rglob("*")):
        content = path.read_bytes() if path.is_file() else None
        if path.name in VOLATILE and content:
            content = b"(present)"
        found[str(path.relative_to(folder))] = content
    return found


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def spread(total: int, points: int | None) -> list[int]:
    """``points`` interruption points spread evenly over ``total`` lines (all if None)."""
    if points is None or total <= points:
        return list(range(1, total + 1))
    return sorted({1 + round(i * (total - 1) / (points - 1)) for i in range(points)})


def interrupted_everywhere(run, files, check_before, check_after, points=None) -> int:
    """Runs ``run()`` once counting lines, then interrupted at each point; ``run`` returns
    normally or raises KeyboardInterrupt (a command returns 130)."""
    with Interrupt(files) as counter:
        run()
    check_after()
    check_before.complete()
    total = counter.lines
    assert total > 0, "the write path was not reached"
    for at in spread(total, points):
        check_before.reset()
        with Interrupt(files, at) as interrupt:
            with contextlib.suppress(KeyboardInterrupt):
                outcome = run()
                assert outcome in (None, 130) or interrupt.where is None, outcome
        # still pending at the end (the point fell where SIGINT is held, and no traced line
        # came after): a real Ctrl-C would be raised just after, on a complete output
        check_before(interrupt.where or f"line {at}, raised after the write")
    return total


class Previous:
    """The state of an output before a run: ``reset`` puts it back; calling it checks that
    the output is exactly that state or exactly the complete run's (an interruption after
    the final rename), and that nothing else is left beside it. ``each_file``: a folder of
    separate outputs, each of which must be whole (old or new) on its own."""

    def __init__(self, target: Path, make, each_file: bool = False):
        self.target, self.make, self.each_file = target, make, each_file
        self.reset()
        self.state = self._now()
        self.new = None
        self.around = set(p.name for p in target.parent.iterdir())

    def _now(self):
        return snapshot(self.target) if self.target.is_dir() else self.target.read_bytes()

    def complete(self):
        """Records the complete run's output."""
        self.new = self._now()
        assert self.new != self.state

    def reset(self):
        if self.target.is_dir():
            shutil.rmtree(self.target)
        elif self.target.exists():
            self.target.unlink()
        self.make(self.target)
        for path in self.target.parent.iterdir():  # what an interrupted run left
            if hasattr(self, "around") and path.name not in self.around:
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def __call__(self, where):
        now = self._now()
        if self.each_file:
            for name in set(now) | set(self.state) | set(self.new):
                assert now.get(name) in (self.state.get(name), self.new.get(name)), \
                    f"{name} half written after a Ctrl-C at {where}"
        else:
            assert now in (self.state, self.new), f"half written after a Ctrl-C at {where}"
        assert leftovers(self.target.parent, self.around) == [], where
        if self.target.is_dir():
            assert not [p for p in self.target.rglob(".*") if ".tmp" in p.name], where


def _file(text: str):
    return lambda path: path.write_text(text)


# --- the helper ------------------------------------------------------------------------------


def test_write_text_interrupted_anywhere_keeps_the_previous_file(tmp_path):
    target = tmp_path / "report.md"
    before = Previous(target, _file("the previous report\n"))
    total = interrupted_everywhere(
        lambda: atomic.write_text(target, "the new report\n" * 1000), [ATOMIC], before,
        lambda: target.read_text() == "the new report\n" * 1000 or pytest.fail("not written"))
    assert total >= 10


def test_append_text_interrupted_anywhere_appends_all_or_nothing(tmp_path):
    target = tmp_path / "summary.md"
    before = Previous(target, _file("# an earlier step\n"))

    def after():
        assert target.read_text() == "# an earlier step\n" + "| a | b |\n" * 500

    interrupted_everywhere(lambda: atomic.append_text(target, "| a | b |\n" * 500), [ATOMIC],
                           before, after)


def test_staging_dir_interrupted_anywhere_keeps_the_previous_folder(tmp_path):
    target = tmp_path / "site"

    def previous(folder):
        (folder / "sub").mkdir(parents=True)
        (folder / "index.html").write_text("previous")
        (folder / "sub" / "page.html").write_text("previous page")

    def build():
        with atomic.staging_dir(target) as staging:
            (staging / "index.html").write_text("new")
            (staging / "other.html").write_text("new page")

    def after():
        assert snapshot(target) == {".": None, "index.html": b"new", "other.html": b"new page"}

    before = Previous(target, previous)
    assert interrupted_everywhere(build, [ATOMIC], before, after) >= 10


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("previous")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic.write_text(target, "new")
    assert target.read_text() == "previous" and os.listdir(tmp_path) == ["out.json"]


def test_a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_usual_mode(tmp_path):
    kept = tmp_path / "kept.md"
    kept.write_text("x")
    kept.chmod(0o640)
    atomic.write_text(kept, "y")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.md"
    atomic.write_text(fresh, "z")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_device_or_a_link_is_written_through_not_replaced(tmp_path):
    atomic.append_text(os.devnull, "nothing\n")
    atomic.write_text(os.devnull, "nothing\n")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    real = tmp_path / "real.md"
    real.write_text("a\n")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    atomic.append_text(link, "b\n")
    assert link.is_symlink() and real.read_text() == "a\nb\n"


def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match=r"cannot write --json .*: no folder"):
        atomic.check_writable(tmp_path / "missing" / "x.json", "--json")
    with pytest.raises(InputError, match="it is a folder"):
        atomic.check_writable(tmp_path, "--write")
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="it is a file, not a folder"):
        atomic.check_creatable_dir(tmp_path / "file", "--out")
    assert atomic.check_creatable_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checked, not created


# --- every command's output -----------------------------------------------------------------


def command(*argv) -> callable:
    return lambda: main([str(a) for a in argv])


@pytest.fixture
def in_process_compare(monkeypatch):
    """alert and the dashboard start `python -m cebench compare`: in this process here, so
    that its writes are traced too and the points cost no process start."""
    from cebench.publish import subprocesses

    real_run = subprocesses.run

    def run(cmd, cwd, timeout_s=1800):
        if cmd[1:3] == ["-m", "cebench"]:
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                code = main(list(cmd[3:]))
            if code == 130:
                raise KeyboardInterrupt
            return code, ""
        return real_run(cmd, cwd, timeout_s)

    monkeypatch.setattr(subprocesses, "run", run)


def test_compare_markdown_and_json_whole_or_not_at_all(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    md, js = out / "compare.md", out / "compare.json"

    def previous(folder):
        folder.mkdir(exist_ok=True)
        md.write_text("previous markdown")
        js.write_text('{"previous": true}')

    def after():
        assert md.read_text().startswith("### ") and json.loads(js.read_text())["outcome"]

    before = Previous(out, previous, each_file=True)
    interrupted_everywhere(command("compare", DATA, "--baseline", "torch=2.13.0",
                                  "--candidate", "torch=2.14.1", "--markdown", md,
                                  "--json", js), [ATOMIC], before, after, points=6)
    capsys.readouterr()


def test_alert_appends_its_whole_report_or_nothing(tmp_path, capsys, in_process_compare):
    summary = tmp_path / "step-summary.md"
    before = Previous(summary, _file("# an earlier step\n"))

    def after():
        text = summary.read_text()
        assert text.startswith("# an earlier step\n# cebench regression check")

    interrupted_everywhere(command("alert", DATA, "--summary", summary), [ATOMIC], before,
                           after, points=6)
    capsys.readouterr()


def test_findings_write_whole_or_not_at_all(tmp_path, capsys):
    page = tmp_path / "findings.md"
    before = Previous(page, _file("the previous findings\n"))

    def after():
        assert page.read_text().startswith("# Findings across torch releases")

    interrupted_everywhere(command("findings", "--results", DATA, "--write", page), [ATOMIC],
                           before, after, points=6)
    capsys.readouterr()


def test_merged_results_whole_or_not_at_all(tmp_path, capsys):
    into = tmp_path / "merged"
    source = tmp_path / "fleet"
    shutil.copytree(DATA, source)
    newer = next((source / "cpu-amd-epyc-2c").glob("3c1d300c-*.json"))

    def previous(folder):  # the older run already merged, the newer one to come
        shutil.copytree(DATA, folder)
        (folder / "cpu-amd-epyc-2c" / newer.name).unlink()

    def after():
        assert (into / "cpu-amd-epyc-2c" / newer.name).read_bytes() == newer.read_bytes()

    interrupted_everywhere(command("merge-results", source, "--into", into), [ATOMIC],
                           Previous(into, previous), after, points=8)
    capsys.readouterr()


def test_dashboard_whole_or_not_at_all(tmp_path, capsys, in_process_compare):
    html = tmp_path / "html"

    def previous(folder):
        (folder / "cebench").mkdir(parents=True)
        (folder / "cebench" / "newest.html").write_text("the previous site")

    def after():
        assert "the previous site" not in (html / "cebench" / "newest.html").read_text()
        assert (html / "cebench" / "verdicts.json").exists() and (html / "index.html").exists()

    interrupted_everywhere(command("dashboard", "--results", DATA, "--html", html, "--config",
                                   REPO / "asv.conf.json", "--only", "compare"),
                           [ATOMIC], Previous(html, previous), after, points=8)
    capsys.readouterr()


def test_notebooks_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    """Every line of the notebooks' write path (run_all and the helper), interrupted. The
    notebooks' kernels are stood in for by a function that writes what a notebook writes
    (a figure into the out folder; ``tests/test_notebooks.py`` interrupts real kernels)."""
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from cebench.publish import notebooks

    analysis = tmp_path / "analysis"
    analysis.mkdir()
    for name in ("first", "second"):
        nbformat.write(new_notebook(cells=[new_code_cell("...")]), analysis / f"{name}.ipynb")

    def execute(path, results_dir, out_dir, timeout_s=600):
        (Path(out_dir) / f"{path.stem}.png").write_bytes(b"a figure of " + path.stem.encode())
        nb = nbformat.read(path, as_version=4)
        nb.cells[0].outputs = [new_output("stream", name="stdout", text=f"{path.stem} ran")]
        return nb

    monkeypatch.setattr(notebooks, "execute", execute)
    out = tmp_path / "html" / "analysis"

    def previous(folder):
        folder.mkdir(parents=True)
        for name in ("first", "second", "third"):
            (folder / f"{name}.html").write_text(f"previous {name} page")
            (folder / f"{name}.png").write_bytes(b"previous figure")

    def after():
        pages = sorted(p.name for p in out.iterdir())
        assert pages == [".timings.json", "first.html", "first.png", "second.html",
                         "second.png"]
        assert "second ran" in (out / "second.html").read_text()

    total = interrupted_everywhere(
        command("notebooks", "--analysis", analysis, "--results", DATA, "--out", out),
        [ATOMIC, Path(notebooks.__file__).resolve()], Previous(out, previous), after,
        points=16)
    assert total > 16
    capsys.readouterr()
