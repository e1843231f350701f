"""Atomic file writes and once-only builds shared between processes.

Nothing the project writes is ever seen half-done, and no process deletes what another
one is writing:

* :func:`atomic_write` (and the text/JSON helpers): a temporary file in the same folder,
  flushed and fsynced, then ``os.replace``d over the target.
* :func:`build_once`: the protocol for a cached artefact (a generated dataset folder, a
  decode cache) that several processes may want at the same time. Under an exclusive
  lock on ``.<name>.lock`` beside the target, the first process builds the artefact
  aside, in :func:`unique_sibling` (``.<name>.tmp-<pid>-<random>`` in the same parent),
  and renames it into place (:func:`replace_dir` for folders, ``os.replace`` for files);
  a process that finds it complete reuses it, one that finds the lock held waits for it
  (announcing so on stderr, up to ``timeout_s``).
* :func:`file_lock`: the lock itself, ``fcntl.flock`` on the lock file, which records the
  holder's pid. The kernel drops a flock when its holder dies, so the lock of a dead pid
  is taken over at once (stale-lock rule); temporaries of dead pids are swept by the
  next builder (:func:`remove_orphans`). Where the filesystem offers no locks, builders
  run unlocked: they may duplicate work, and still each publishes only whole results.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sci_lightning.errors import SciLightningError

__all__ = [
    "STORAGE_ERRNOS",
    "StorageError",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_text",
    "build_once",
    "file_lock",
    "hold_lock",
    "holds_lock",
    "lock_path",
    "pid_alive",
    "remove_orphans",
    "replace_dir",
    "storage_error",
    "sweep_stale_temporaries",
    "unique_sibling",
]

#: errno values meaning "this filesystem does not do flock": build unlocked instead.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_STILL_WAITING_EVERY_S = 60.0


# --------------------------------------------------------------------------- storage faults

#: errno values that are the storage's fault, said in the user's words by :func:`storage_error`.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG}


class StorageError(SciLightningError, OSError):
    """A write refused by the storage (full, read-only, no permission, name too long), in one line.

    Still an ``OSError`` (with its ``errno`` and ``filename``), so code that handles OSError
    goes on working; the CLI prints ``str(error)`` as one ``error:`` line.
    """

    def __init__(
        self, message: str, errno_: int | None = None, path: str | os.PathLike | None = None
    ) -> None:
        OSError.__init__(self, errno_, message, None if path is None else str(path))
        self.message = message

    def __str__(self) -> str:
        return self.message

    exit_code = 1


_STORAGE_WORDS = {
    errno.ENOSPC: ("no space is left on the device", "Free space on that disk, or write to a disk with room"),
    errno.EDQUOT: ("the disk quota is exceeded", "Free space in your quota, or write to a disk with room"),
    errno.EROFS: ("the file system is read-only", "Write to a writable folder"),
    errno.EACCES: ("permission denied", "Write to a folder you may write to, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "Write to a folder you may write to, or fix its permissions"),
    errno.ENAMETOOLONG: ("the path is too long for the file system", "Give a shorter folder name"),
}


def storage_error(
    exc: OSError, path: str | os.PathLike | None = None, *, kept: str | None = None, fix: str | None = None
) -> StorageError:
    """``exc`` (ENOSPC, EROFS, EACCES, ENAMETOOLONG, ...) as one line: the path, what was kept, the fix.

    ``kept`` says what is still intact (e.g. "the previous checkpoint ... is kept");
    ``fix`` names the setting that moves the write (e.g. "set output_dir=...").
    """
    where = path if path is not None else (exc.filename or "?")
    known = _STORAGE_WORDS.get(exc.errno) if exc.errno is not None else None
    problem, generic_fix = known or (exc.strerror or str(exc), "Check the disk")
    if exc.errno == errno.ENAMETOOLONG:
        problem = f"{problem} ({len(str(where))} characters)"
    parts = [f"Cannot write {where}: {problem}."]
    if kept:
        parts.append(f"{kept[0].upper()}{kept[1:]}.")
    parts.append(f"{generic_fix}{f' ({fix})' if fix else ''}.")
    return StorageError(" ".join(parts), exc.errno, where)


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of killed atomic writes in ``folder`` (``.<name>.<random>.tmp``).

    Call it only on a folder this process owns (:func:`hold_lock`): a live writer's
    temporary would otherwise be removed under it.
    """
    folder = Path(folder)
    # atomic_write's mkstemp names (8 random characters) and the checkpoint writer's (a uuid4 hex)
    pattern = re.compile(r"^\..+\.([a-z0-9_]{8}|[0-9a-f]{32})\.tmp$")
    removed = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        if pattern.match(entry.name) and entry.is_file():
            try:
                entry.unlink()
            except OSError:
                continue
            removed.append(entry)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], mode: int = 0o644) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then move it over ``path`` atomically.

    On any error the temporary file is removed and the previous ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if exc.errno in STORAGE_ERRNOS:
            raise storage_error(exc, path) from None
        raise
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, StorageError) and exc.errno in STORAGE_ERRNOS:
            raise storage_error(exc, path) from None
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, data: object) -> Path:
    """Write ``data`` as indented, strict JSON to ``path`` atomically.

    Non-JSON values are written via ``str``; a float that is NaN or infinite becomes
    ``null`` (strict JSON has no NaN or Infinity, and other tools refuse them).
    """
    text = json.dumps(finite_or_null(data), indent=2, default=str, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def finite_or_null(data: object) -> object:
    """``data`` with every NaN or infinite float (in dicts, lists, tuples) replaced by ``None``."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite_or_null(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_or_null(v) for v in data]
    return data


# --------------------------------------------------------------------------- shared builds


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (a zombie counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file guarding ``target``: ``.<name>.lock`` in the same folder."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def unique_sibling(target: str | os.PathLike, tag: str = "tmp") -> Path:
    """A fresh name beside ``target`` for building it aside: ``.<name>.<tag>-<pid>-<random>``."""
    target = Path(target)
    return target.parent / f".{target.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}"


def remove_orphans(target: str | os.PathLike) -> list[Path]:
    """Delete the :func:`unique_sibling` temporaries of ``target`` whose pid is dead; return them.

    Call it while holding :func:`file_lock` on ``target``: a live builder's temporary is
    never touched, whatever the lock says.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.[a-z]+-(\d+)-[0-9a-f]+$")
    removed = []
    for entry in target.parent.iterdir() if target.parent.is_dir() else ():
        m = pattern.match(entry.name)
        if m and not pid_alive(int(m.group(1))):
            _remove(entry)
            removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_dir(built: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished folder ``built`` to ``target``, replacing an old ``target``.

    The old folder is first renamed aside and deleted only after ``built`` is in place, so
    ``target`` is at every moment either absent, the old tree or the new one, never a mix.
    """
    built, target = Path(built), Path(target)
    old = None
    if target.exists():
        old = unique_sibling(target, "old")
        os.rename(target, old)
    os.rename(built, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _holder_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _try_lock(path: Path) -> int | None:
    """An fd holding the flock on ``path``; None if another process holds it; -1 if no locks here."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:
        os.close(fd)
        if exc.errno in _NO_LOCKS:
            return -1
        raise
    try:  # the releasing holder may have unlinked the file we opened: lock the current one
        st, now = os.fstat(fd), os.stat(path)
        current = (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)
    except FileNotFoundError:
        current = False
    if not current:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


#: Locks this process holds until it exits (:func:`hold_lock`); the kernel drops them then.
_HELD: dict[Path, int] = {}


def hold_lock(target: str | os.PathLike) -> int | None:
    """Take the lock guarding ``target`` for the rest of this process, without waiting.

    Returns ``None`` when this process holds it (now or already), else the pid of the
    process that holds it (0 when unknown). Where the file system has no locks it returns
    ``None`` (nothing to hold). OSError (e.g. a read-only folder) propagates.
    """
    path = lock_path(target).absolute()
    if path in _HELD:
        return None
    fd = _try_lock(path)
    if fd is None:
        return _holder_pid(path) or 0
    if fd >= 0:
        _HELD[path] = fd
    return None


def holds_lock(target: str | os.PathLike) -> bool:
    """Whether this process holds the lock guarding ``target`` (taken with :func:`hold_lock`)."""
    return lock_path(target).absolute() in _HELD


def _announce_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(
    target: str | os.PathLike,
    *,
    timeout_s: float = 3600.0,
    poll_s: float = 0.1,
    what: str | None = None,
    announce: Callable[[str], None] = _announce_stderr,
) -> Iterator[None]:
    """Hold the exclusive lock guarding ``target`` (see the module docs).

    Waits while another live process holds it, announcing the wait once and then every
    minute; raises TimeoutError (naming the holder and the lock file) after ``timeout_s``.
    On release the lock file is removed.
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    what = what or str(target)
    start = last_note = time.monotonic()
    announced = False
    while (fd := _try_lock(path)) is None:
        waited_s = time.monotonic() - start
        holder = _holder_pid(path)
        who = f"process {holder}" if holder else "another process"
        if waited_s >= timeout_s:
            raise TimeoutError(
                f"Gave up after {waited_s:.0f} s waiting for {who} to finish building {what} "
                f"(lock file '{path}'). If that process is hung, stop it; a dead holder's lock is taken over "
                "automatically."
            )
        if not announced or time.monotonic() - last_note >= _STILL_WAITING_EVERY_S:
            announce(
                f"{what}: {who} is building it; waiting (up to {timeout_s:.0f} s, {waited_s:.0f} s so far)"
            )
            announced, last_note = True, time.monotonic()
        time.sleep(poll_s)
    try:
        yield
    finally:
        if fd >= 0:
            path.unlink(missing_ok=True)  # while still holding it: waiters re-check the inode
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def build_once(
    target: str | os.PathLike,
    is_complete: Callable[[], bool],
    build: Callable[[], None],
    *,
    timeout_s: float = 3600.0,
    what: str | None = None,
    announce: Callable[[str], None] = _announce_stderr,
) -> bool:
    """Make ``target`` complete exactly once among concurrent processes; True if this call built it.

    ``build`` must build aside (in :func:`unique_sibling` names) and rename into place; it
    runs under :func:`file_lock`, after the dead builders' temporaries are swept.
    """
    if is_complete():
        return False
    with file_lock(target, timeout_s=timeout_s, what=what, announce=announce):
        if is_complete():  # another process built it while we waited
            return False
        remove_orphans(target)
        build()
    return True
