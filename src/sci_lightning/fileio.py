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
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = [
    "finite_or_null",
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "build_once",
    "file_lock",
    "lock_path",
    "pid_alive",
    "remove_orphans",
    "replace_dir",
    "unique_sibling",
]

#: errno values meaning "this filesystem does not do flock": build unlocked instead.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_STILL_WAITING_EVERY_S = 60.0


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], mode: int = 0o644) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then move it over ``path`` atomically.

    On any error the temporary file is removed and the previous ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented, strict JSON to ``path`` atomically.

    Non-JSON values are written via ``str``; a float that is NaN or infinite becomes
    ``null`` (strict JSON has no NaN or Infinity, and other tools refuse them).
    """
    text = json.dumps(finite_or_null(data), indent=2, default=str, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def finite_or_null(data: Any) -> Any:
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
