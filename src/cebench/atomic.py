"""Every output whole or not at all: write aside, then rename.

A file is written to a temporary sibling (same folder, so the same file system) and renamed
over the target with :func:`os.replace`, which is atomic: a reader, a Ctrl-C or a full disk
sees the previous file or the new one, never half of either. A folder is built aside
(:func:`staging_dir`) and swapped in by two renames, with SIGINT held back until the swap
and the removal of the previous folder are done (:func:`replace_dir`). On any failure or
interruption the temporary file or folder is removed and the previous one is left
exactly as it was.

:func:`append_text` appends the same way (the whole previous file plus the new text is
written aside and renamed), so that ``$GITHUB_STEP_SUMMARY`` is never left with half a
report. A target that is not a regular file (``/dev/null``, a pipe) is written in place.

:func:`check_writable` is for argument validation: it refuses, before any work, an output
whose folder does not exist or cannot be written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from cebench.errors import InputError


def check_writable(path, option: str | None = None) -> Path:
    """``path`` (a file to create or replace) as a Path; InputError, one line naming the
    option, when its folder is missing or read-only (the file is written aside there and
    renamed) or the path is a folder."""
    path = Path(path)
    what = f"{option} {path}" if option else str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {what}: it is a folder")
    if _is_special(path):  # /dev/null, a pipe: written in place
        if not os.access(path, os.W_OK):
            raise InputError(f"cannot write {what}: permission denied")
        return path
    if not folder.is_dir():
        raise InputError(f"cannot write {what}: no folder {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {what}: permission denied")
    _probe(folder, what)
    return path


def _probe(folder: Path, what: str) -> None:
    """Creates and removes a file in ``folder`` (what the write will do), so that a folder
    no file can be made in (read-only, a full disk, /proc) is refused before any work."""
    with _sigint_held():  # a Ctrl-C waits until the probe is gone again
        try:
            fd, name = tempfile.mkstemp(prefix=".cebench-probe-", dir=folder)
        except OSError as exc:
            raise InputError(f"cannot write {what}: {exc.strerror or exc} in {folder}"
                             ) from None
        os.close(fd)
        os.unlink(name)


def check_creatable_dir(path, option: str | None = None) -> Path:
    """``path`` (a folder to create or replace) as a Path; InputError, one line naming the
    option, when it is a file or its nearest existing folder cannot be written."""
    path = Path(path)
    what = f"{option} {path}" if option else str(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot write {what}: it is a file, not a folder")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"cannot write {what}: {ancestor} is not a folder")
    _probe(ancestor, what)
    return path


def _is_special(path: Path) -> bool:
    """An existing target that is not a regular file (a device, a pipe): written in place."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _default_mode(mode: int) -> int:
    """``mode`` less this process's umask (what open() or mkdir() would have given)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_bytes(path, data: bytes) -> Path:
    """Writes ``data`` to ``path`` whole or not at all (see the module doc)."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path  # replace the file, keep the link
    if _is_special(target):
        with open(target, "wb") as f:
            f.write(data)
        return path
    tmp = None
    try:
        with _sigint_held():  # the temporary file exists only once tmp names it
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                       dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = _default_mode(0o666)
        os.chmod(tmp, mode)  # mkstemp's 0600 would differ from a file written in place
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    return path


def write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Writes ``text`` to ``path`` whole or not at all."""
    return write_bytes(path, text.encode(encoding))


def append_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Appends ``text`` to ``path`` (created if missing) whole or not at all."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    if _is_special(target):
        with open(target, "ab") as f:
            f.write(text.encode(encoding))
        return path
    try:
        before = target.read_bytes()
    except FileNotFoundError:
        before = b""
    return write_bytes(target, before + text.encode(encoding))


@contextlib.contextmanager
def _sigint_held():
    """SIGINT held back (delivered on exit) in the main thread, for a few system calls."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def replace_dir(new: Path, old: Path) -> None:
    """Puts folder ``new`` where ``old`` is (both on one file system): ``old`` is moved
    aside, ``new`` renamed into place, then the previous one deleted. SIGINT is held back
    meanwhile: a Ctrl-C is raised once ``old`` is replaced and its previous content gone
    (or, if the rename failed, once ``old`` is back as it was)."""
    new, old = Path(new), Path(old)
    with _sigint_held():
        aside = None
        if old.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{old.name}.previous-", dir=old.parent))
            aside.rmdir()
            old.rename(aside)
        try:
            new.rename(old)
        except BaseException:
            if aside is not None:
                aside.rename(old)
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(target):
    """A new empty folder beside ``target`` to build in; when the block completes it
    replaces ``target`` (:func:`replace_dir`); when it raises (Ctrl-C included) it is
    removed and ``target`` is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = None
    try:
        with _sigint_held():  # the folder exists only once staging names it
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-",
                                            dir=target.parent))
        os.chmod(staging, _default_mode(0o777))  # mkdtemp's 0700 would hide a published site
        yield staging
        replace_dir(staging, target)
    finally:
        if staging is not None:
            with _sigint_held():  # a second Ctrl-C waits for the clean-up
                shutil.rmtree(staging, ignore_errors=True)
