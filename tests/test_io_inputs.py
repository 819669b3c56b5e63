"""Bad inputs to ``dpa.io``: every one an ``InputError`` naming the file (one
line for the command line), never a traceback and never a wrong result."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from conftest import vectors_dir

import dpa
import dpa.io as dio

MILD = dpa.get_preset("mild")
STREAM = "dpa-stream-150-mild-from1000.json"
DEEP = "[" * 100_000 + "]" * 100_000
BIG_INT = "9" * 5000


def records(n=20, hash=True):
    return dpa.records.records_to_dicts(dpa.generate(range(n), MILD, hash=hash))


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial" in p.name)


# ---- sample ids in the records (issue 14, defect 7) ---------------------------------


@pytest.mark.parametrize("verify", [False, True])
@pytest.mark.parametrize("fmt", ["array", "jsonl"])
@pytest.mark.parametrize("where, value, match", [
    (1, 999, r"record 1\)?: sample_id is 999 but --start-id \+ position gives 1"),
    (17_000, 999, r"record 17000\)?: sample_id is 999 but --start-id \+ position gives 17000"),
    (5, True, r"record 5\)?: sample_id is not an integer: True"),
    (5, 5.0, r"record 5\)?: sample_id is not an integer: 5.0"),
])
def test_every_record_id_is_checked(tmp_path, fmt, verify, where, value, match):
    """Only some records carry ``sample_id`` (here one): each must agree."""
    recs = records(where + 10)
    recs[where]["sample_id"] = value
    src = tmp_path / ("r.json" if fmt == "array" else "r.jsonl")
    src.write_text(json.dumps(recs) if fmt == "array" else "".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(dio.InputError, match=match):
        dio.convert_json(src, tmp_path / "o.npy", config=MILD, verify=verify)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]
    recs[where]["sample_id"] = where  # the right id converts
    src.write_text(json.dumps(recs) if fmt == "array" else "".join(json.dumps(r) + "\n" for r in recs))
    assert dio.convert_json(src, tmp_path / "o.npy", config=MILD, verify=verify).count == where + 10


# ---- malformed .npy headers (defect 8 and the header parser) ------------------------


def _npy_with_header(tmp_path, old: bytes, new: bytes) -> str:
    buf = io.BytesIO()
    np.save(buf, dpa.generate(range(3), MILD))
    data = buf.getvalue()
    assert old in data
    path = tmp_path / "m.npy"
    path.write_bytes(data.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, match", [
    (b"(3,)", b"(-1,)", r"malformed header: shape \(-1,\) is not a count of records"),
    (b"(3,)", b"(-7,)", r"malformed header: shape \(-7,\) is not a count of records"),
    (b"(3,)", b"(3,\"", r"not a .npy file \(malformed header"),
    (b"'descr'", b"'descr\n", r"not a .npy file \(malformed header"),
    (b"'shape'", b"'shape':(1,),'x'", r"not a .npy file \(malformed header"),
])
def test_malformed_headers_are_rejected_everywhere(tmp_path, old, new, match):
    path = _npy_with_header(tmp_path, old, new)
    for read in (dio.load, dio.compute_stats, lambda p: list(dio.iter_npy_blocks(p)),
                 dio.stats_report, dio.verify_npy):
        with pytest.raises(dio.InputError, match=match):
            read(path)


@pytest.mark.parametrize("field", [("f8", (2,)), "S8", "U8", ("f8", (0,)), "V0", "c16", "i8"],
                         ids=["subarray", "bytes", "unicode", "zero-size", "void", "complex", "int"])
def test_stats_of_a_field_that_is_not_a_float(tmp_path, field):
    dtype = [("rotation",) + (field if isinstance(field, tuple) else (field,)), ("noise", "f8")]
    np.save(tmp_path / "f.npy", np.zeros(3, dtype=dtype))
    with pytest.raises(dio.InputError, match=r"f.npy: field 'rotation' \(.*\) is not a float field"):
        dio.compute_stats(tmp_path / "f.npy")
    with pytest.raises(dio.InputError, match="is not a float field"):
        dio.compute_stats(tmp_path / "f.npy", fields=["rotation"])
    assert dio.compute_stats(tmp_path / "f.npy", fields=["noise"])["noise"]["count"] == 3


# ---- JSON that json cannot decode: nesting, long integers ----------------------------


@pytest.mark.parametrize("text, match", [
    ('{"metadata": ' + DEEP + ', "augmentations": []}', "values nested too deeply"),
    ("[" + DEEP + "]", "values nested too deeply"),
    ('{"metadata": {"num_samples": ' + BIG_INT + '}, "augmentations": []}',
     "an integer longer than [0-9,]+ digits"),
    ('[{"rotation": ' + BIG_INT + "}]", "an integer longer than"),
], ids=["deep-metadata", "deep-record", "long-int-metadata", "long-int-record"])
def test_convert_json_that_json_cannot_decode(tmp_path, text, match):
    (tmp_path / "d.json").write_text(text)
    with pytest.raises(dio.InputError, match=rf"d.json: invalid JSON at line 1, column \d+: {match}"):
        dio.convert_json(tmp_path / "d.json", tmp_path / "o.npy")
    assert not (tmp_path / "o.npy").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("line, match", [(DEEP, "values nested too deeply"),
                                         ('{"rotation": ' + BIG_INT + "}", "an integer longer")])
def test_json_lines_that_json_cannot_decode(tmp_path, line, match):
    good = json.dumps(records(1)[0])
    (tmp_path / "d.jsonl").write_text(good + "\n" + line + "\n")
    with pytest.raises(dio.InputError, match=rf"d.jsonl: line 2: invalid JSON: {match}"):
        dio.convert_json(tmp_path / "d.jsonl", tmp_path / "o.npy", format="jsonl")


@pytest.mark.parametrize("extra, match", [(DEEP, "values nested too deeply"),
                                          (BIG_INT, "an integer longer than")])
def test_provenance_and_journal_that_json_cannot_decode(tmp_path, extra, match):
    out = tmp_path / "p.npy"
    dio.save_npy(dpa.stream_augmentation_chain(10, MILD), out)
    side = tmp_path / "p.npy.json"
    side.write_text(side.read_text().rstrip()[:-1] + ', "x": ' + extra + "}")
    with pytest.raises(dio.InputError, match=rf"p.npy.json: provenance: not valid JSON \({match}"):
        dio.read_provenance(out)
    with pytest.raises(dio.InputError, match=match):
        dio.verify_npy(out)
    warned = []
    report = dio.stats_report(out, on_warning=warned.append)  # statistics need no provenance
    assert report.count == 10 and len(warned) == 1 and match.split()[0] in warned[0]
    # A journal that cannot be decoded: resume refuses, naming it; --force starts over.
    shutil.copy(out, tmp_path / "q.npy.partial")
    (tmp_path / "q.npy.partial.json").write_text('{"format": "dpa-partial/1", "x": ' + extra + "}")
    with pytest.raises(dio.ResumeError, match=r"q.npy.partial.json is unreadable"):
        dio.save_npy(dpa.stream_augmentation_chain(10, MILD), tmp_path / "q.npy", resume=True)
    dio.save_npy(dpa.stream_augmentation_chain(10, MILD), tmp_path / "q.npy", force=True)
    assert (tmp_path / "q.npy").read_bytes() == out.read_bytes()


def test_a_huge_provenance_is_not_read_whole(tmp_path, monkeypatch):
    out = tmp_path / "p.npy"
    dio.save_npy(dpa.stream_augmentation_chain(10, MILD), out)
    monkeypatch.setattr(dio.provenance, "_MAX_PROVENANCE_BYTES", 100)
    with pytest.raises(dio.InputError, match="larger than 100 bytes: not a provenance"):
        dio.read_provenance(out)


# ---- input that is not UTF-8 JSON, or JSON in another layout -------------------------


def _not_utf8_inputs(tmp_path):
    np.save(tmp_path / "a.npy", dpa.generate(range(3)))
    (tmp_path / "u16.json").write_text('{"augmentations": []}', encoding="utf-16")
    (tmp_path / "l1.json").write_bytes('{"metadata": {"x": "\u00e9"}, "augmentations": []}'.encode("latin-1"))
    (tmp_path / "rand.json").write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 5000, np.uint8)))
    late = json.dumps(records(3000)).encode()
    (tmp_path / "late.json").write_bytes(late[:-100] + b"\xff" + late[-100:])
    return {
        "a.npy": "a .npy file, not JSON",
        "u16.json": "UTF-16 text; convert reads UTF-8",
        "l1.json": r"not UTF-8 text \(byte 0xe9",
        "rand.json": r"not UTF-8 text \(byte 0x",
        "late.json": r"not UTF-8 text \(byte 0xff",
    }


@pytest.mark.parametrize("fmt", ["auto", "dpa", "jsonl"])
def test_input_that_is_not_utf8(tmp_path, fmt):
    for name, match in _not_utf8_inputs(tmp_path).items():
        if fmt == "jsonl" and name == "late.json":
            continue  # one line of 200 kB: JSON Lines reads it whole, and says so too
        with pytest.raises(dio.InputError, match=rf"{name}: {match}"):
            dio.convert_json(tmp_path / name, tmp_path / "o.npy", format=fmt)
        with pytest.raises(dio.InputError, match=rf"{name}: "):
            dio.read_config(tmp_path / name)
    assert leftovers(tmp_path) == [] and not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("doc", [
    {"foo": {"a": 1}, "bar": [1, 2]},
    {"data": [{"rotation": 1}]},
    {"metadata": {}, "records": []},
], ids=["other-keys", "records-elsewhere", "dpa-key-first"])
@pytest.mark.parametrize("indent", [None, 2])
def test_json_in_another_layout_says_which_layouts_dpa_reads(tmp_path, doc, indent):
    (tmp_path / "x.json").write_text("\n" + json.dumps(doc, indent=indent))
    with pytest.raises(dio.InputError, match=r"x.json: .*not a layout dpa reads; convert reads DPA 0.2.1's "
                                             r"save_augmentation_chain .* or JSON Lines"):
        dio.convert_json(tmp_path / "x.json", tmp_path / "o.npy")


def test_json_lines_and_indented_documents_are_told_apart(tmp_path):
    recs = dpa.records.records_to_dicts(dpa.generate(range(1000, 1150), MILD, hash=True))
    for r in recs:
        r.pop("sample_id", None)
    (tmp_path / "l.jsonl").write_text("\n\n" + "".join(json.dumps(r) + "\n" for r in recs))
    (tmp_path / "a.json").write_text(json.dumps(recs, indent=4))
    doc = json.loads((vectors_dir() / STREAM).read_text())
    (tmp_path / "d.json").write_text(json.dumps({"augmentations": doc["augmentations"],
                                                 "metadata": doc["metadata"]}, indent=1))
    for name in ("l.jsonl", "a.json", "d.json"):
        res = dio.convert_json(tmp_path / name, tmp_path / (name + ".npy"), start_id=1000,
                               config=MILD, verify=True)
        assert res.count == 150


# ---- provenance that cannot describe the file ----------------------------------------


@pytest.mark.parametrize("changes, match", [
    ({"start_id": 2**63}, r"provenance start_id should be a sample id in \[0, 2\*\*63-1\], but is 9223372036854775808"),
    ({"start_id": -5}, "provenance start_id should be a sample id"),
    ({"step": 2**62}, r"start_id 0 and step 4611686018427387904 give record 9 the id \d+, outside"),
    ({"start_id": 2**63 - 5}, r"give record 9 the id 9223372036854775812, outside"),
    ({"step": -1}, r"give record 9 the id -9, outside"),
    ({"scheme": "philox"}, r"provenance scheme 'philox' has no hash, but .*p.npy has a hash column"),
])
def test_provenance_out_of_range(tmp_path, changes, match):
    out = tmp_path / "p.npy"
    dio.save_npy(dpa.stream_augmentation_chain(10, MILD), out, hash=True)
    side = tmp_path / "p.npy.json"
    side.write_text(json.dumps({**json.loads(side.read_text()), **changes}))
    with pytest.raises(dio.InputError, match=match):
        dio.verify_npy(out)
    with pytest.raises(dio.InputError, match=match):
        dio.stats_report(out, verify=True)
    assert dio.stats_report(out).count == 10  # plain statistics need none of it


@pytest.mark.parametrize("source", ["x", 3, ["a"], {"statistics": "x"}, {"metadata": 5}])
def test_a_malformed_source_is_a_warning_for_stats(tmp_path, source):
    out = tmp_path / "p.npy"
    dio.convert_json(vectors_dir() / STREAM, out, start_id=1000)
    side = tmp_path / "p.npy.json"
    side.write_text(json.dumps({**json.loads(side.read_text()), "source": source}))
    warned = []
    report = dio.stats_report(out, on_warning=warned.append)
    assert report.count == 150 and report.method == "exact" and report.source is None
    assert len(warned) == 1 and "should be an object" in warned[0] and "ignoring it" in warned[0]
    assert dio.compute_stats(out)["rotation"]["count"] == 150
