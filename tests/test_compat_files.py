"""dpa.compat's JSON files: DPA 0.2.1's bytes, both ways, written atomically.

The reference files in tests/data were written by the real DPA 0.2.1
(tests/data/README.md says how); dpa.compat must write the same bytes for the
same calls, by every path (records generated as arrays, dicts gathered by the
compiled core, items the json module formats), and read DPA's files back.
"""

from __future__ import annotations

import json
import os
import random
import struct

import numpy as np
import pytest

import dpa
import dpa.io as dio
from conftest import vectors_dir
from dpa._core import float_repr
from dpa.compat import distributed as D
from dpa.compat import dpa as C
from dpa.compat._jsontext import INDENT, LINE, dicts_block, item_text

DATA = vectors_dir()
KAT = json.loads((DATA / "dpa-0.2.1-compat.json").read_text())
MILD = dpa.get_preset("mild")
CUSTOM = dpa.AugmentationConfig(rotation_range=(-20, 20), noise_range=(0, 0.2),
                                augmentation_depth=7)


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


WRITERS = {
    "dpa-chain-200-aggressive.json": [
        lambda p: C.generate_augmentation_chain(200, dpa.get_preset("aggressive"), save_path=p),
        lambda p: C.save_augmentation_chain(
            C.generate_augmentation_chain(200, dpa.get_preset("aggressive")), p,
            dpa.get_preset("aggressive")),
    ],
    "dpa-stream-150-mild-from1000.json": [
        lambda p: C.save_augmentation_stream(C.stream_augmentation_chain(150, MILD, 1000), p,
                                             config=MILD),
        lambda p: C.save_augmentation_stream(
            iter(list(C.stream_augmentation_chain(150, MILD, 1000))), p, config=MILD),
    ],
    "dpa-stream-lines-40-from7.json": [
        lambda p: C.save_augmentation_stream(C.stream_augmentation_chain(40, CUSTOM, 7), p,
                                             config=CUSTOM, include_stats=False, buffer_size=16),
        lambda p: C.save_augmentation_stream(
            C.list_to_generator(list(C.stream_augmentation_chain(40, CUSTOM, 7))), p,
            config=CUSTOM, include_stats=False, buffer_size=16),
    ],
    "dpa-rank-stream-30-r1of3.json": [
        lambda p: C.save_augmentation_stream(
            D.stream_distributed_augmentation_chain(30, 1, 3, base_seed=5), p),
        lambda p: C.save_augmentation_stream(
            iter(list(D.stream_distributed_augmentation_chain(30, 1, 3, base_seed=5))), p),
    ],
    "dpa-rank-lines-13-r2of4.json": [
        lambda p: C.save_augmentation_stream(
            D.stream_distributed_augmentation_chain(13, 2, 4, MILD), p, include_stats=False,
            buffer_size=2),
    ],
    "dpa-chain-nostats-25.json": [
        lambda p: C.save_augmentation_chain(C.generate_augmentation_chain(25), p,
                                            include_stats=False),
    ],
}


@pytest.mark.parametrize("name,k", [(n, k) for n, ws in WRITERS.items() for k in range(len(ws))])
def test_writes_dpas_bytes(name, k, tmp_path, capsys):
    path = tmp_path / "sub" / name
    WRITERS[name][k](str(path))
    assert path.read_bytes() == _bytes(name)
    printed = capsys.readouterr().out.replace(str(path), "PATH")
    if name in KAT["files"]:
        assert printed == KAT["files"][name]["printed"]


def test_generic_items_are_formatted_by_json(tmp_path, capsys):
    """Items the compiled path does not take (ints, extra keys, other types) are
    written by the json module, in DPA's layouts, and counted in the statistics."""
    items = [{"rotation": 5, "brightness": 1.0, "noise": 0.0, "scale": 1.0, "contrast": 1.0},
             {"rotation": 2.5, "brightness": 1.5, "noise": 0.1, "scale": 1, "contrast": 0.5,
              "note": "é\"x"}]
    for layout in (INDENT, LINE):
        text = dicts_block(items, layout).text.decode()
        assert text == ",\n".join(item_text(d, layout) for d in items)
    path = tmp_path / "a.json"
    C.save_augmentation_chain(items, str(path))
    doc = {"metadata": {"num_samples": 2, "config": None}, "augmentations": items,
           "statistics": C.compute_statistics(items)}
    assert path.read_text() == json.dumps(doc, indent=2)
    assert doc["statistics"]["rotation"]["max"] == 5 and type(doc["statistics"]["rotation"]["max"]) is int


def test_empty_stream_and_chain_files(tmp_path, capsys):
    """DPA fails on these (its progress update rejects -1; statistics.mean of nothing);
    dpa.compat writes the documents DPA's writers lay out, with zero statistics."""
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    C.save_augmentation_stream(iter([]), str(a), include_stats=False)
    assert json.loads(a.read_text())["augmentations"] == []
    C.save_augmentation_stream(iter([]), str(b))
    C.generate_augmentation_chain(0, save_path=str(c))
    for p in (b, c):
        doc = json.loads(p.read_text())
        assert doc["augmentations"] == [] and doc["statistics"]["noise"]["count"] == 0


def test_dpa_files_load_in_compat_and_convert(tmp_path, capsys):
    chain = C.load_augmentation_chain(str(DATA / "dpa-chain-200-aggressive.json"))
    assert chain == C.generate_augmentation_chain(200, dpa.get_preset("aggressive"))
    lines = list(C.load_augmentation_stream(str(DATA / "dpa-stream-lines-40-from7.json"), 1))
    assert lines == list(C.stream_augmentation_chain(40, CUSTOM, 7))
    ranked = list(C.load_augmentation_stream(str(DATA / "dpa-rank-lines-13-r2of4.json"), 2))
    assert [d for chunk in ranked for d in chunk] == list(
        D.stream_distributed_augmentation_chain(13, 2, 4, MILD))
    # python -m dpa convert reads DPA's files and files dpa.compat wrote alike.
    ours = tmp_path / "ours.json"
    C.save_augmentation_stream(C.stream_augmentation_chain(40, CUSTOM, 7), str(ours),
                               config=CUSTOM, include_stats=False, buffer_size=16)
    for src in (DATA / "dpa-stream-lines-40-from7.json", ours):
        out = tmp_path / (src.stem + ".npy")
        dio.convert_json(str(src), str(out), start_id=7, verify=True, force=True)
        rec = dio.load(str(out))
        assert rec["rotation"].tolist() == [d["rotation"] for d in lines]


def test_recover_partial_write(tmp_path, capsys):
    full = DATA / "dpa-rank-stream-30-r1of3.json"
    info = C.recover_partial_write(str(full))
    assert info == {"recoverable": True, "samples_found": 10,
                    "metadata": json.loads(full.read_text())["metadata"], "error": None}
    text = _bytes("dpa-chain-200-aggressive.json")
    cut = tmp_path / "cut.json"
    at = -1
    for _ in range(100):  # the 100th record's first key: 99 records are whole before it
        at = text.index(b'"rotation"', at + 1)
    cut.write_bytes(text[:at])
    info = C.recover_partial_write(str(cut), verbose=True)
    assert info["recoverable"] and info["samples_found"] == 99
    assert info["metadata"]["num_samples"] == 200
    assert C.recover_partial_write(str(tmp_path / "none.json"))["error"] == "File does not exist"


def test_failed_write_leaves_destination_unchanged(tmp_path, capsys):
    path = tmp_path / "keep.json"
    path.write_text("old")

    def failing():
        yield from C.stream_augmentation_chain(5)
        raise RuntimeError("source broke")

    with pytest.raises(C.PartialWriteError) as info:
        C.save_augmentation_stream(failing(), str(path), include_stats=False, buffer_size=2)
    assert info.value.samples_written == 4  # two whole buffers, as DPA counts
    with pytest.raises(C.PartialWriteError) as info:
        C.save_augmentation_stream(failing(), str(path))
    assert info.value.samples_written == 0
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["keep.json"]  # no temporary file left


def test_write_replaces_a_link_instead_of_writing_through_it(tmp_path, capsys):
    target = tmp_path / "target.json"
    target.write_text("untouched")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    C.save_augmentation_chain(C.generate_augmentation_chain(3), str(link))
    assert target.read_text() == "untouched"
    assert not link.is_symlink() and len(C.load_augmentation_chain(str(link))) == 3


def test_float_repr_is_pythons_repr():
    rng = random.Random(13)
    bits = [rng.getrandbits(64) for _ in range(100_000)]
    values = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    values += [0.0, -0.0, 5e-324, 1e16, 1e15, 9999999999999998.0, 1e-5, 1e-4, 0.1, 1 / 3,
               1.7976931348623157e308, 2.2250738585072014e-308, 123456789012345678.0]
    values += [2.0 ** e for e in range(-1074, 1024)] + [float(10 ** k) for k in range(23)]
    x = np.array([v for v in values if v == v and abs(v) != float("inf")])
    assert float_repr(x) == [repr(v) for v in x.tolist()]
    assert float_repr(np.array([float("nan"), float("inf"), -float("inf")])) == \
        ["NaN", "Infinity", "-Infinity"]


def test_python_m_dpa_convert_reads_compat_files(tmp_path, capsys):
    """The command line's convert (in process) verifies files dpa.compat wrote,
    with statistics and ranks, as it verifies DPA's."""
    from dpa.cli import main

    src = tmp_path / "rank.json"
    C.save_augmentation_stream(D.stream_distributed_augmentation_chain(30, 1, 3, base_seed=5),
                               str(src))
    assert src.read_bytes() == _bytes("dpa-rank-stream-30-r1of3.json")
    for name in (str(src), str(DATA / "dpa-rank-stream-30-r1of3.json")):
        out = tmp_path / "out.npy"
        status = main(["convert", name, "-o", str(out), "--start-id", "10", "--rank", "1",
                       "--base-seed", "5", "--preset", "moderate", "--verify", "--force", "-q"])
        assert status == 0
        assert dio.load(str(out))["sample_id"].tolist() == list(range(10, 20))
