"""Running one part of the dashboard (or one `cebench compare` of the CI gate) as a
command in its own session: a one-line report of how it ended, and a Ctrl-C forwarded
to it once, with time to clean up (temporary folders, notebook kernels)."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

#: Seconds a part's command gets to clean up after a Ctrl-C before it is killed.
CLEANUP_GRACE_S = 60


def run(cmd: list[str], cwd: Path, timeout_s: float = 1800) -> tuple[int, str]:
    """Runs ``cmd``; returns (exit code, the last line of its output, for a one-line report).

    The command runs in its own session, so a Ctrl-C in the terminal reaches this process
    only; :func:`stop` forwards it once and waits for the command to clean up.
    """
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    except FileNotFoundError as exc:
        return 127, f"{cmd[0]}: not found ({exc.strerror})"
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(proc)
        return 124, f"timed out after {timeout_s:.0f} s"
    except BaseException:  # KeyboardInterrupt above all: let the command clean up first
        stop(proc)
        raise
    lines = [ln for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    return proc.returncode, (lines[-1].strip() if lines else "")


def stop(proc: subprocess.Popen, grace_s: float = CLEANUP_GRACE_S) -> None:
    """SIGINT to a running command (it removes its temporary files and shuts its notebook
    kernels down, as after a Ctrl-C), then SIGKILL if it has not exited within grace_s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cebench(*args: str) -> list[str]:
    return [sys.executable, "-m", "cebench", *args]
