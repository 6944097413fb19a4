"""Writing files so that nothing the user had is lost: one helper for every file trtforge writes.

``atomic_write(path)`` writes to a temporary file in the same directory, flushes and fsyncs it,
then ``os.replace`` s it over ``path``. A full disk, an interrupt or a crash meanwhile leaves the
previous file as it was (at worst a ``.NAME.*.tmp`` file beside it, never a truncated ``NAME``).
Failures raise :class:`OutputWriteError`, naming the path, the reason and the fix.

TensorRT programs are serialized by PyTorch's C++ zip writer, which aborts the whole process when
a write fails inside its destructor (a full disk). The file object ``atomic_write`` yields
therefore never lets an ``OSError`` (or an interrupt) escape into the writer: it remembers the
first one, drops later writes, and raises it when the ``with`` block ends.
"""
from __future__ import annotations

import errno
import io
import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import OutputWriteError

__all__ = ["OutputWriteError", "atomic_write", "atomic_write_text", "check_output_path"]


def _fix_for(err: BaseException) -> str:
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "free some space or write somewhere else"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "choose a path in a directory you can write, or fix its permissions"
    if code == errno.ENOENT:
        return "create the directory first, or choose an existing one"
    if code == errno.EISDIR:
        return "give a file name, not a directory"
    return "choose another path"


def _error(path: Path, what: str, err: BaseException) -> OutputWriteError:
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    code = getattr(err, "errno", None) or errno.EIO
    kept = " (the previous file is unchanged)" if path.is_file() else ""
    out = OutputWriteError(f"cannot write {what} {str(path)!r}: {reason}{kept}; {_fix_for(err)}")
    out.errno, out.path = code, str(path)  # not .filename: str() would show the errno form
    return out


def check_output_path(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Check, before any work is done, that ``path`` can be written: its directory exists and is
    writable, and ``path`` is not a directory. Raises :class:`OutputWriteError` saying which."""
    p = Path(os.fspath(path))
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise _error(p, what, OSError(errno.EISDIR, "it is a directory"))
    if not parent.is_dir():
        raise _error(p, what, OSError(errno.ENOENT, f"directory {str(parent)!r} does not exist"))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _error(p, what, OSError(errno.EACCES, f"directory {str(parent)!r} is not writable"))
    return p


class _LatchingFile(io.IOBase):
    """A binary file whose first failed write (or interrupt) is kept, not raised, until the end."""

    def __init__(self, f: IO[bytes]) -> None:
        super().__init__()
        self._f = f
        self.error: BaseException | None = None

    def write(self, data: Any) -> int:
        n = len(memoryview(data).cast("B")) if not isinstance(data, (bytes, bytearray)) else len(data)
        if self.error is None:
            try:
                self._f.write(data)
            except (OSError, KeyboardInterrupt) as exc:
                self.error = exc
        return n

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def flush(self) -> None:
        if self.error is None and not self._f.closed:
            try:
                self._f.flush()
            except OSError as exc:
                self.error = exc

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._f.fileno()


@contextmanager
def atomic_write(path: str | os.PathLike[str], what: str = "file") -> Iterator[Any]:
    """Yield a binary file; when the block ends without error, it replaces ``path`` atomically.

    ``what`` names the file in errors ("compiled program", "report", ...). On any failure the
    temporary file is removed and ``path`` is left as it was.
    """
    p = check_output_path(path, what)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        # readable too: callers may checksum what they wrote before it replaces ``path``
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    except OSError as exc:
        raise _error(p, what, exc) from None
    ok = False
    try:
        with os.fdopen(fd, "w+b") as raw:
            latch = _LatchingFile(raw)
            yield latch
            latch.flush()
            if latch.error is not None:
                raise latch.error
            try:
                os.fsync(raw.fileno())
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # file systems without fsync
                    raise
        _keep_mode(p, tmp)
        os.replace(tmp, p)
        ok = True
        _fsync_dir(p.parent)
    except OSError as exc:
        raise _error(p, what, exc) from None
    finally:
        if not ok:
            try:
                tmp.unlink()
            except OSError:
                pass


def atomic_write_text(path: str | os.PathLike[str], text: str, what: str = "file") -> None:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`."""
    with atomic_write(path, what) as f:
        f.write(text.encode("utf-8"))


def _keep_mode(path: Path, tmp: Path) -> None:
    """A replaced file keeps its permission bits."""
    try:
        os.chmod(tmp, path.stat().st_mode & 0o7777)
    except FileNotFoundError:
        pass


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory if str(directory) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
