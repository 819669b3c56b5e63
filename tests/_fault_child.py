"""``python -m dpa ARGS`` with every file-system call counted, killed at call K
(run by ``test_faults.py`` in real processes, not by pytest).

Usage: ``python _fault_child.py K DEST ARGS...`` runs one command; ``python
_fault_child.py serve`` imports dpa once and then, for each request line on
stdin (JSON: ``cwd``, ``kill_at``, ``dest``, ``args``, ``output``), forks a
process that runs it with its stdout and stderr in ``output``, and answers
with a line ``{"returncode": ...}`` (negative: killed by that signal) once it
has ended: a process per run without an interpreter start-up each time.

The calls counted are the
``os`` functions that change files (``open``, ``write``, ``pwrite``,
``fsync``, ``fdatasync``, ``ftruncate``, ``replace``, ``rename``, ``link``,
``unlink``) and the ``renameat2`` of ``dpa.io.files``, from every thread in
order; just before call ``K`` the process sends itself SIGKILL (``K = 0``:
never).  At the end the last line on stderr is ``calls: N``.

It also checks, as the calls go, what must hold at every instant; a
violation prints ``violation: ...`` and exits with status 99:

* a file renamed into place (a journal, the sidecar, the finished ``.npy``)
  was flushed (``fsync``/``fdatasync``) after its last write (by ``os.write``
  or ``os.pwrite``, or by any other means: its size and modification time are
  those of its last flush);
* a journal (``*.partial.json``) claims no more of the partial file than was
  flushed before it reached its name, and the partial file is never cut
  (``ftruncate``) below what its journal claims;
* nothing writes, truncates or flushes-as-written the inode of ``DEST`` (a
  finished file is never written in place).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

K = 0
DEST = ""

_lock = threading.RLock()
_count = 0
_dirty: set[tuple[int, int]] = set()  # (device, inode) written since its last flush
_synced: dict[tuple[int, int], int] = {}  # (device, inode) -> size at its last flush
_flushed_as: dict[tuple[int, int], tuple[int, int]] = {}  # -> (size, mtime) at its last flush
_claims: dict[tuple[int, int], int] = {}  # partial file -> bytes its journal claims
_real = {name: getattr(os, name) for name in ("open", "write", "pwrite", "fsync", "fdatasync",
                                               "ftruncate", "replace", "rename", "link", "unlink")}


def _violation(message: str) -> None:
    sys.stderr.write(f"violation: {message}\n")
    sys.stderr.flush()
    os._exit(99)


def _tick() -> None:
    global _count
    with _lock:
        _count += 1
        if _count == K:
            os.kill(os.getpid(), signal.SIGKILL)


def _key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _not_dest(fd: int) -> None:
    try:
        dest = os.stat(DEST)
    except OSError:
        return
    if _key(os.fstat(fd)) == _key(dest):
        _violation(f"a write to {DEST}'s own inode (a finished file written in place)")


def _flushed(path) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    if _key(st) in _dirty or _flushed_as.get(_key(st)) != (st.st_size, st.st_mtime_ns):
        _violation(f"{path} renamed into place before it was flushed")


def _check_journal(src, dst) -> None:
    with open(src, "rb") as f:
        journal = json.loads(f.read())
    done = journal["records_durable"]
    if not done:
        return
    claim = journal["header_bytes"] + done * journal["itemsize"]
    partial = str(dst)[: -len(".json")]
    try:
        key = _key(os.stat(partial))
    except FileNotFoundError:
        key = _key(os.stat(DEST))  # the journal of a commit: the file is in place already
    if _synced.get(key, -1) < claim:
        _violation(f"{dst} claims {claim} bytes but {_synced.get(key, 0)} were flushed")
    _claims[key] = claim


def _open(path, flags, mode=0o777, *, dir_fd=None):
    _tick()
    return _real["open"](path, flags, mode, dir_fd=dir_fd)


def _write(fd, data):
    _tick()
    _not_dest(fd)
    n = _real["write"](fd, data)
    _dirty.add(_key(os.fstat(fd)))
    return n


def _pwrite(fd, data, offset):
    _tick()
    _not_dest(fd)
    n = _real["pwrite"](fd, data, offset)
    _dirty.add(_key(os.fstat(fd)))
    return n


def _flush(name):
    def flush(fd):
        _tick()
        _real[name](fd)
        st = os.fstat(fd)
        with _lock:
            _synced[_key(st)] = st.st_size
            _flushed_as[_key(st)] = (st.st_size, st.st_mtime_ns)
            _dirty.discard(_key(st))
    return flush


def _ftruncate(fd, length):
    _tick()
    _not_dest(fd)
    if length < _claims.get(_key(os.fstat(fd)), 0):
        _violation(f"the partial file cut to {length} bytes, below its journal's claim")
    _real["ftruncate"](fd, length)
    _dirty.add(_key(os.fstat(fd)))


def _renamer(name):
    def rename(src, dst, **kw):
        _tick()
        _flushed(src)
        if str(dst).endswith(".partial.json"):
            _check_journal(src, dst)
        return _real[name](src, dst, **kw)
    return rename


def _passthrough(name):
    def call(*args, **kw):
        _tick()
        return _real[name](*args, **kw)
    return call


def _reset(kill_at: int, dest: str) -> None:
    """A new run: count from 0, kill at ``kill_at``, ``dest`` the destination."""
    global K, DEST, _count
    K, DEST, _count = kill_at, dest, 0
    for table in (_dirty, _synced, _flushed_as, _claims):
        table.clear()
    _claim_of_an_earlier_run()


def _claim_of_an_earlier_run() -> None:
    """A resumed run must keep the claim the journal already makes."""
    try:
        with open(DEST + ".partial.json", "rb") as f:
            journal = json.loads(f.read())
        key = _key(os.stat(DEST + ".partial"))
        if journal["records_durable"]:  # flushed by the earlier run (its checks held)
            _claims[key] = _synced[key] = (journal["header_bytes"]
                                           + journal["records_durable"] * journal["itemsize"])
    except (OSError, ValueError, KeyError, TypeError):
        pass


os.open = _open
os.write = _write
os.pwrite = _pwrite
os.fsync = _flush("fsync")
os.fdatasync = _flush("fdatasync")
os.ftruncate = _ftruncate
os.replace = _renamer("replace")
os.rename = _renamer("rename")
os.link = _passthrough("link")
os.unlink = _passthrough("unlink")

try:
    import dpa.io.files as _files  # noqa: E402 - after the patches, which it looks up at call time
except ImportError:  # a dpa without it (to see this test fail before the fix)
    _files = None
_renameat2 = getattr(_files, "_renameat2", None)
if _renameat2 is not None:
    def _counted_renameat2(olddirfd, old, newdirfd, new, flags):
        _tick()
        _flushed(os.fsdecode(old))
        return _renameat2(olddirfd, old, newdirfd, new, flags)

    _files._renameat2 = _counted_renameat2

from dpa.cli import main  # noqa: E402


def _run(args: list[str]) -> int:
    status = main(args)
    sys.stdout.flush()
    sys.stderr.write(f"calls: {_count}\n")
    sys.stderr.flush()
    return status


def _serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the run: a process of its own, killed for real
            status = 70
            try:
                out = _real["open"](request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.chdir(request["cwd"])
                _reset(request["kill_at"], request["dest"])
                status = _run(request["args"])
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(status)
        _, wait = os.waitpid(pid, 0)
        code = -os.WTERMSIG(wait) if os.WIFSIGNALED(wait) else os.WEXITSTATUS(wait)
        sys.stdout.write(json.dumps({"returncode": code}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve()
    else:
        _reset(int(sys.argv[1]), sys.argv[2])
        sys.exit(_run(sys.argv[3:]))
