"""The files dpa writes: never through a planted link, never a finished file
written in place, a journal that only claims flushed bytes, a commit by rename
that ``--resume`` can finish, the input never overwritten, free space checked.

In-process; ``test_faults.py`` kills real processes at every I/O step.
"""

from __future__ import annotations

import errno
import io
import json
import os

import numpy as np
import pytest
from conftest import vectors_dir

import dpa
import dpa.io as dio
from dpa.io import files

MILD = dpa.get_preset("mild")


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def stream(n=10_000, start=3):
    return dpa.stream_augmentation_chain(n, MILD, start_id=start)


def want(n=10_000, start=3):
    return npy_bytes(dpa.generate(range(start, start + n), MILD))


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial" in p.name)


#: dpa's temporary names beside OUT.npy
TEMP_NAMES = ["p.npy.partial", "p.npy.partial.json", "p.npy.partial.json.tmp", "p.npy.json.partial"]


# ---- planted links (issue 14, defect 1) --------------------------------------------


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("name", TEMP_NAMES)
def test_a_planted_link_is_an_error_naming_it(tmp_path, name, force):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / name).symlink_to(victim)
    with pytest.raises(dio.OutputError, match=rf"{name} is a symbolic link; dpa never writes through"):
        dio.save_npy(stream(), tmp_path / "p.npy", force=force)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "victim"])


def test_a_link_planted_at_a_temporary_name_during_the_export(tmp_path, monkeypatch):
    """Between the checks and the creation: ``O_EXCL | O_NOFOLLOW`` still refuses it."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    side_tmp = tmp_path / "p.npy.json.partial"
    real = dio.writer.write_new_file

    def plant_then_write(path, data, stale=False):
        if path == side_tmp:
            os.symlink(victim, side_tmp)
        return real(path, data, stale=stale)

    monkeypatch.setattr(dio.writer, "write_new_file", plant_then_write)
    with pytest.raises(dio.OutputError, match="p.npy.json.partial is a symbolic link"):
        dio.save_npy(stream(), tmp_path / "p.npy")
    assert victim.read_text() == "precious" and not (tmp_path / "p.npy").exists()


def test_create_exclusive(tmp_path):
    path = tmp_path / "f"
    os.close(files.create_exclusive(path))
    with pytest.raises(dio.OutputError, match="cannot create .*f: it exists"):
        files.create_exclusive(path)
    # A stale leftover is unlinked, never opened: its other name keeps its bytes.
    path.write_text("old")
    os.link(path, tmp_path / "other")
    fd = files.create_exclusive(path, stale=True)
    os.write(fd, b"new")
    os.close(fd)
    assert (tmp_path / "other").read_text() == "old" and path.read_text() == "new"
    os.unlink(path)
    path.symlink_to(tmp_path / "other")
    with pytest.raises(dio.OutputError, match="is a symbolic link"):
        files.create_exclusive(path, stale=True)
    assert (tmp_path / "other").read_text() == "old"


def test_a_destination_link_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "p.npy").symlink_to(victim)
    with pytest.raises(dio.OutputError, match="exists; pass --force"):
        dio.save_npy(stream(), tmp_path / "p.npy")
    dio.save_npy(stream(), tmp_path / "p.npy", force=True)
    assert not (tmp_path / "p.npy").is_symlink() and (tmp_path / "p.npy").read_bytes() == want()
    assert victim.read_text() == "precious"


# ---- a finished file is never written in place (defect 2) ---------------------------


def test_a_partial_that_is_another_name_of_a_finished_file_is_never_written(tmp_path):
    """An older dpa committed by hard link; a kill between link and unlink left
    ``p.npy.partial`` as a second name of the finished ``p.npy``."""
    out = tmp_path / "p.npy"
    dio.save_npy(stream(), out)
    finished = out.read_bytes()
    os.link(out, tmp_path / "keep")  # a third name, to see the old file after the export
    os.link(out, tmp_path / "p.npy.partial")
    dio.save_npy(stream(20_000), out, force=True)
    assert out.read_bytes() == want(20_000)
    assert (tmp_path / "keep").read_bytes() == finished  # the old inode was never truncated
    assert leftovers(tmp_path) == []
    os.link(out, tmp_path / "p.npy.partial")  # nor is it resumed
    with pytest.raises(dio.ResumeError, match=r"p.npy.partial has 2 names"):
        dio.save_npy(stream(20_000), out, force=True, resume=True)
    assert out.read_bytes() == want(20_000)


def test_the_commit_is_a_rename(tmp_path, monkeypatch):
    def no_link(*args, **kwargs):
        raise AssertionError("os.link called: the commit must be a rename")

    if files._renameat2 is None:
        pytest.skip("no renameat2: the hard-link fallback applies")
    monkeypatch.setattr(os, "link", no_link)
    dio.save_npy(stream(), tmp_path / "p.npy")
    assert (tmp_path / "p.npy").read_bytes() == want()


@pytest.mark.parametrize("fallback", ["link", "check"])
def test_rename_noreplace_fallbacks(tmp_path, monkeypatch, fallback):
    monkeypatch.setattr(files, "_renameat2", None)
    if fallback == "check":
        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, "no hard links here")

        monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "p.npy"
    dio.save_npy(stream(), out)
    assert out.read_bytes() == want() and leftovers(tmp_path) == []
    (tmp_path / "a").write_text("a")
    with pytest.raises(FileExistsError):
        files.rename_noreplace(tmp_path / "a", out)
    assert out.read_bytes() == want() and (tmp_path / "a").exists()


def test_a_destination_that_appears_meanwhile_is_not_replaced(tmp_path, monkeypatch):
    out = tmp_path / "p.npy"
    real = dio.writer.write_new_file

    def appear(path, data, stale=False):  # another process writes p.npy meanwhile
        out.write_text("theirs")
        return real(path, data, stale=stale)

    monkeypatch.setattr(dio.writer, "write_new_file", appear)
    with pytest.raises(dio.OutputError, match="p.npy appeared while it was being written"):
        dio.save_npy(stream(), out)
    assert out.read_text() == "theirs" and leftovers(tmp_path) == []
    assert not (tmp_path / "p.npy.json").exists()


# ---- the journal claims only flushed bytes (defect 3) -------------------------------


def _die_after(monkeypatch, batches: int) -> None:
    """The export dies (no clean-up, as under SIGKILL) at its batch ``batches + 1``."""
    monkeypatch.setattr(dio._PartialNpy, "abort", dio._PartialNpy.close)
    real = dpa.ParamStream.generate
    seen = []

    def dying(self, ids, **kwargs):
        seen.append(1)
        if len(seen) > batches:
            raise SystemExit("killed")
        return real(self, ids, **kwargs)

    monkeypatch.setattr(dpa.ParamStream, "generate", dying)


def _aligned_writes(monkeypatch) -> None:
    """``O_DIRECT``'s 4 KiB alignment on any file system: writes go through a
    second ordinary descriptor in aligned pieces, as with ``--io direct``."""
    def open_direct(self, direct):
        self.dfd = os.dup(self.fd)
        self.direct = True

    monkeypatch.setattr(dio._PartialNpy, "_open_direct", open_direct)


@pytest.mark.parametrize("aligned", [False, True])
def test_killed_right_after_start_resumes(tmp_path, monkeypatch, aligned):
    if aligned:
        _aligned_writes(monkeypatch)
    out = tmp_path / "p.npy"
    with monkeypatch.context() as m:
        _die_after(m, 0)
        with pytest.raises(SystemExit):
            dio.save_npy(stream(), out, batch_size=1000, checkpoint_seconds=0)
    assert (tmp_path / "p.npy.partial").exists()
    res = dio.save_npy(stream(), out, resume=True)
    assert res.resumed_from == 0 and out.read_bytes() == want() and leftovers(tmp_path) == []


@pytest.mark.parametrize("aligned", [False, True])
def test_killed_right_after_a_resume_starts_resumes(tmp_path, monkeypatch, aligned):
    if aligned:
        _aligned_writes(monkeypatch)
    monkeypatch.setattr(dio.save, "WRITE_BUFFER_BATCHES", 1)
    out = tmp_path / "p.npy"
    n = 50_000
    with monkeypatch.context() as m:
        _die_after(m, 7)
        with pytest.raises(SystemExit):
            dio.save_npy(stream(n), out, batch_size=1111, checkpoint_seconds=0)
    journal = json.loads((tmp_path / "p.npy.partial.json").read_text())
    done = journal["records_durable"]
    assert done > 0
    for _ in range(2):  # each resume dies at once, before it writes anything
        with monkeypatch.context() as m:
            _die_after(m, 0)
            with pytest.raises(SystemExit):
                dio.save_npy(stream(n), out, resume=True, batch_size=1000)
        assert json.loads((tmp_path / "p.npy.partial.json").read_text()) == journal
    res = dio.save_npy(stream(n), out, resume=True)
    assert res.resumed_from == done and out.read_bytes() == want(n)
    assert leftovers(tmp_path) == []


def test_every_journal_claim_is_flushed_first(tmp_path, monkeypatch):
    """At each journal update, the partial file was flushed (``fdatasync``)
    with at least the claimed bytes, and the journal reaches its name by
    rename from a flushed exclusive temporary file."""
    synced: dict[int, int] = {}
    claims = []
    real_sync, real_fsync = os.fdatasync, os.fsync
    real_journal = dio.writer.write_journal
    flushed_tmp = set()

    def fdatasync(fd):
        real_sync(fd)
        st = os.fstat(fd)
        synced[st.st_ino] = st.st_size

    def fsync(fd):
        real_fsync(fd)
        st = os.fstat(fd)
        synced[st.st_ino] = st.st_size
        flushed_tmp.add(st.st_ino)

    def write_journal(path, data, dirfd=None):
        j = json.loads(data)
        partial = os.stat(tmp_path / "p.npy.partial").st_ino
        claim = j["header_bytes"] + j["records_durable"] * j["itemsize"]
        if j["records_durable"]:
            assert synced.get(partial, -1) >= claim, (synced, claim)
        claims.append(j["records_durable"])
        real_journal(path, data, dirfd)
        assert os.stat(path).st_ino in flushed_tmp  # the journal file was fsynced

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(dio.writer, "write_journal", write_journal)
    monkeypatch.setattr(dio.save, "WRITE_BUFFER_BATCHES", 1)
    dio.save_npy(stream(30_000), tmp_path / "p.npy", batch_size=1000, checkpoint_seconds=0)
    assert claims[0] == 0 and claims[-1] == 30_000 and len(claims) > 10
    assert claims == sorted(claims)
    assert (tmp_path / "p.npy").read_bytes() == want(30_000)


# ---- a commit cut short is finished by --resume --------------------------------------


def test_killed_between_the_renames_resume_finishes_the_commit(tmp_path, monkeypatch):
    out = tmp_path / "p.npy"
    real = os.replace

    def dying_replace(src, dst, **kw):
        if str(dst).endswith("p.npy.json"):  # the file is in place; its sidecar is not
            raise SystemExit("killed")
        return real(src, dst, **kw)

    with monkeypatch.context() as m:
        m.setattr(dio._PartialNpy, "abort", dio._PartialNpy.close)
        m.setattr(os, "replace", dying_replace)
        with pytest.raises(SystemExit):
            dio.save_npy(stream(), out)
    assert out.read_bytes() == want()  # complete, at every instant
    assert not (tmp_path / "p.npy.json").exists()
    with pytest.raises(dio.OutputError, match="exists"):
        dio.save_npy(stream(), out)
    with pytest.raises(dio.OutputError, match="exists"):  # another export's journal: not finished
        dio.save_npy(stream(start=4), out, resume=True)
    res = dio.save_npy(stream(), out, resume=True)
    assert res.resumed_from == res.count == 10_000
    assert out.read_bytes() == want() and leftovers(tmp_path) == []
    assert dio.read_provenance(out)["count"] == 10_000 and dio.verify_npy(out) == 10_000


def test_killed_after_the_journal_records_the_commit(tmp_path, monkeypatch):
    """The journal says the file is complete but it is still the partial file."""
    out = tmp_path / "p.npy"
    with monkeypatch.context() as m:
        m.setattr(dio._PartialNpy, "abort", dio._PartialNpy.close)
        m.setattr(dio.writer, "write_new_file", lambda *a, **k: (_ for _ in ()).throw(SystemExit))
        with pytest.raises(SystemExit):
            dio.save_npy(stream(), out)
    assert "commit" in json.loads((tmp_path / "p.npy.partial.json").read_text())
    assert not out.exists()
    res = dio.save_npy(stream(), out, resume=True)
    assert res.resumed_from == 10_000 and out.read_bytes() == want()
    assert leftovers(tmp_path) == []


# ---- the input is never the output (defect 4) ---------------------------------------


@pytest.mark.parametrize("how", ["same", "hard link", "symlink", "sidecar", "partial"])
def test_convert_never_writes_over_its_input(tmp_path, how):
    src = tmp_path / "in.json"
    text = (vectors_dir() / "dpa-chain-200-aggressive.json").read_text()
    src.write_text(text)
    out = {"same": src, "hard link": tmp_path / "o.npy", "symlink": tmp_path / "o.npy",
           "sidecar": tmp_path / "in", "partial": tmp_path / "in"}[how]
    if how == "hard link":
        os.link(src, out)
    elif how == "symlink":
        out.symlink_to(src)
    elif how == "sidecar":
        src = src.rename(tmp_path / "in.json")  # in.json is the sidecar of "in"
    elif how == "partial":
        src = src.rename(tmp_path / "in.partial")
    with pytest.raises(dio.OutputError, match="is the input file"):
        dio.convert_json(src, out, force=True)
    assert src.read_text() == text and set(leftovers(tmp_path)) <= {src.name}


# ---- free space ---------------------------------------------------------------------


def test_free_space_is_checked_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "free_bytes", lambda d: 100_000)
    with pytest.raises(dio.OutputError, match=r"not enough free space: it needs 480 kB \(480,256 bytes\) "
                                              r"but .* has 100 kB \(100,000 bytes\) free"):
        dio.save_npy(stream(), tmp_path / "p.npy")
    assert list(tmp_path.iterdir()) == []
    dio.save_npy(stream(1000), tmp_path / "p.npy")  # 48 kB fits
    assert files.format_bytes(4.8e12) == "4.8 TB" and files.format_bytes(69e9) == "69 GB"
