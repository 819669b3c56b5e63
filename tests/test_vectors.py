"""Every DPA 0.2.1 known answer, reproduced exactly (==, never a tolerance)."""

from __future__ import annotations

import numpy as np
import pytest

import dpa
from conftest import config_of

FLOATS = list(dpa.FIELDS)


def _plain(vectors):
    return [c for c in vectors["cases"] if "rank" not in c]


def _ranked(vectors):
    return [c for c in vectors["cases"] if "rank" in c]


def test_vector_file_covers_what_we_claim(vectors):
    depths = {config_of(c).augmentation_depth for c in vectors["cases"]}
    assert {1, 10, 93, 100} <= depths
    assert max(c["sample_id"] for c in vectors["cases"]) == 2**63 - 1
    assert len(_ranked(vectors)) > 0


def test_gen_augmentation_params(vectors, kernel_path):
    for case in _plain(vectors):
        got = dpa.gen_augmentation_params(case["sample_id"], config_of(case))
        assert got == {k: case[k] for k in FLOATS + ["hash"]}, case


def test_gen_augmentation_seed(vectors):
    for case in _plain(vectors):
        depth = config_of(case).augmentation_depth
        assert dpa.gen_augmentation_seed(case["sample_id"], depth) == case["hash"]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_generate_matches_vectors(vectors, kernel_path, threads):
    """All plain cases of one config at once, in file order and reversed."""
    by_config: dict = {}
    for case in _plain(vectors):
        by_config.setdefault(config_of(case), []).append(case)
    for config, cases in by_config.items():
        ids = np.array([c["sample_id"] for c in cases], dtype=np.int64)
        for order in (slice(None), slice(None, None, -1)):
            recs = dpa.generate(ids[order], config, hash=True, threads=threads)
            for rec, case in zip(recs, np.array(cases, dtype=object)[order]):
                assert rec["sample_id"] == case["sample_id"]
                for f in FLOATS:
                    assert rec[f] == case[f], (case, f)
                assert rec["hash"].decode() == case["hash"]


def test_rank_aware_vectors(vectors, kernel_path):
    for case in _ranked(vectors):
        config = config_of(case)
        rec = dpa.generate(
            [case["sample_id"]], config, hash=True, rank=case["rank"], base_seed=case["base_seed"]
        )[0]
        assert [rec[f] for f in FLOATS] == [case[f] for f in FLOATS], case
        assert rec["hash"].decode() == case["hash"]
        got = dpa.gen_distributed_augmentation_params(
            case["sample_id"], case["rank"], config, case["base_seed"], case["world_size"]
        )
        assert {k: got[k] for k in FLOATS + ["hash"]} == {k: case[k] for k in FLOATS + ["hash"]}


def test_stream_matches_vectors(vectors):
    for case in _plain(vectors):
        stream = dpa.stream_augmentation_chain(1, config_of(case), start_id=case["sample_id"])
        (got,) = list(stream)
        assert got == {k: case[k] for k in FLOATS + ["hash"]}


@pytest.mark.parametrize(
    "name, preset, start",
    [("dpa-chain-200-aggressive.json", "aggressive", 0), ("dpa-stream-150-mild-from1000.json", "mild", 1000)],
)
def test_dpa_saved_files(name, preset, start, kernel_path):
    """Files DPA's own savers wrote: every record, by position."""
    import json

    from conftest import vectors_dir

    data = json.loads((vectors_dir() / name).read_text())
    config = dpa.AugmentationConfig.from_dict(data["metadata"]["config"])
    assert config == dpa.get_preset(preset)
    records = data["augmentations"]
    stream = dpa.stream_augmentation_chain(len(records), config, start_id=start)
    assert list(stream) == records
    arr = dpa.generate(range(start, start + len(records)), config, hash=True)
    for rec, want in zip(arr, records):
        assert [rec[f] for f in FLOATS] == [want[f] for f in FLOATS]
        assert rec["hash"].decode() == want["hash"]
