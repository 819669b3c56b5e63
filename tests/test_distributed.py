"""``dpa.distributed``: DPA's ranges and rank-aware vectors, seeding modes, splits, epochs."""

from __future__ import annotations

import hashlib
import importlib
import sys
import types
from collections import Counter

import numpy as np
import pytest

import dpa
from conftest import config_of
from dpa import _reference
from dpa import distributed as D

MILD = dpa.get_preset("mild")
FLOATS = list(dpa.FIELDS)


def _ranked(vectors):
    return [c for c in vectors["cases"] if "rank" in c]


# ---- DPA's range splitting ----------------------------------------------------


def test_range_splits_equal_dpa(vectors):
    assert vectors["range_splits"], "no range_splits in the vector file"
    for case in vectors["range_splits"]:
        s = D.DistributedRangeSplitter(case["total_samples"], case["world_size"])
        assert [list(r) for r in s.get_all_ranges()] == case["ranges"], case
        assert s.validate_ranges()
        rr = s.get_all_rank_ranges()
        assert [(r.start_id, r.end_id, r.rank, r.total_samples) for r in rr] == [
            (a, b, k, case["total_samples"]) for k, (a, b) in enumerate(case["ranges"])
        ]


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 64, 1001])
@pytest.mark.parametrize("w", [1, 2, 3, 4, 8, 13, 64, 100])
def test_rank_for_sample_matches_ranges(n, w):
    s = D.DistributedRangeSplitter(n, w)
    owner = {}
    for rank, (a, b) in enumerate(s.get_all_ranges()):
        owner.update({i: rank for i in range(a, b)})
    assert sorted(owner) == list(range(n)) and s.validate_ranges()
    assert [s.get_rank_for_sample(i) for i in range(n)] == [owner[i] for i in range(n)]


def test_rank_for_sample_is_constant_time():
    # A loop over a billion ranks would not finish; the closed form is instant.
    s = D.DistributedRangeSplitter(10**18 + 7, 10**9)
    assert s.get_rank_for_sample(0) == 0
    assert s.get_rank_for_sample(10**18 + 6) == 10**9 - 1
    a, b = s.get_rank_range(123456789)
    assert s.get_rank_for_sample(a) == s.get_rank_for_sample(b - 1) == 123456789


# ---- DPA's rank-aware outputs --------------------------------------------------


def test_rank_aware_vectors(vectors, kernel_path):
    cases = _ranked(vectors)
    assert len(cases) >= 25
    for c in cases:
        cfg = config_of(c)
        got = D.gen_distributed_augmentation_params(
            c["sample_id"], c["rank"], cfg, c["base_seed"], c["world_size"]
        )
        assert got == {**{k: c[k] for k in FLOATS + ["hash"]}, "rank": c["rank"]}, c
        gen = D.RankAwareSeedGenerator(c["base_seed"], c["world_size"])
        assert gen.generate_seed(c["sample_id"], c["rank"], cfg.augmentation_depth) == c["hash"]


def test_rank_aware_vectors_through_streams(vectors):
    for c in _ranked(vectors):
        sid = c["sample_id"]
        if sid > 10**6:
            continue
        s = D.stream_distributed_augmentation_range(
            sid, sid + 1, c["rank"], c["world_size"], config_of(c), c["base_seed"]
        )
        (d,) = list(s)
        assert d == {**{k: c[k] for k in FLOATS + ["hash"]}, "rank": c["rank"]}
        rec = s.generate([sid], hash=True)[0]
        assert [rec[f] for f in FLOATS] == [c[f] for f in FLOATS]
        assert rec["hash"].decode() == c["hash"]


@pytest.mark.parametrize("n, w", [(10, 4), (3, 5), (1000, 8), (0, 2), (2500, 3)])
def test_stream_is_dpa_stream(n, w):
    splitter = D.DistributedRangeSplitter(n, w)
    for rank in range(w):
        s = D.stream_distributed_augmentation_chain(n, rank, w, MILD, base_seed=3)
        assert isinstance(s, dpa.ParamStream)
        a, b = splitter.get_rank_range(rank)
        assert s.ids == range(a, b) and len(s) == b - a
        got = list(s)
        want = [D.gen_distributed_augmentation_params(i, rank, MILD, 3, w) for i in range(a, b)]
        assert got == want
        assert all(d["rank"] == rank for d in got)


def test_stream_chunks_and_arrays():
    chunks = list(D.stream_distributed_augmentation_chain(23, 1, 2, MILD, chunk_size=5))
    assert [len(c) for c in chunks] == [5, 5, 1]
    assert [d for c in chunks for d in c] == list(D.stream_distributed_augmentation_chain(23, 1, 2, MILD))

    s = D.stream_distributed_augmentation_chain(20_000, 1, 2, MILD, base_seed=9)
    first = next(s)
    rest = s.claim()
    assert rest == range(10_001, 20_000) and s.remaining == 0
    arr = s.generate(rest, hash=True)
    ref = dpa.generate(rest, MILD, hash=True, rank=1, base_seed=9)
    assert arr.tobytes() == ref.tobytes()
    assert first["hash"] == dpa.generate([10_000], MILD, hash=True, rank=1, base_seed=9)["hash"][0].decode()
    blocks = list(D.stream_distributed_augmentation_chain(20_000, 1, 2, MILD, base_seed=9).blocks(4096))
    assert np.concatenate(blocks).tobytes() == dpa.generate(range(10_000, 20_000), MILD, rank=1,
                                                            base_seed=9).tobytes()


def test_verbose_prints_the_range(capsys):
    D.stream_distributed_augmentation_chain(10, 1, 4, verbose=True)
    assert capsys.readouterr().out == "Rank 1/4: processing samples 3-5 (3 samples)\n"


# ---- errors ------------------------------------------------------------------

_ERRORS = [
    (lambda: D.DistributedRangeSplitter(-1, 2), ValueError, r"total_samples must be non-negative, but got total_samples=-1"),
    (lambda: D.DistributedRangeSplitter(5, 0), ValueError, r"world_size must be >= 1, but got world_size=0"),
    (lambda: D.DistributedRangeSplitter(5, 1.0), TypeError, r"world_size should be an integer"),
    (lambda: D.DistributedRangeSplitter(5, True), TypeError, r"world_size should be an integer"),
    (lambda: D.DistributedRangeSplitter(5, 2).get_rank_range(2), D.InvalidRankError, r"rank \(2\) must be < world_size \(2\)"),
    (lambda: D.DistributedRangeSplitter(5, 2).get_rank_range(-1), ValueError, r"rank must be non-negative, but got rank=-1"),
    (lambda: D.DistributedRangeSplitter(5, 2).get_rank_for_sample(5), ValueError, r"sample_id \(5\) must be < total_samples \(5\)"),
    (lambda: D.DistributedRangeSplitter(5, 2).get_rank_for_sample(-3), ValueError, r"sample_id must be non-negative, but got sample_id=-3"),
    (lambda: D.RankAwareSeedGenerator(-1), ValueError, r"base_seed must be non-negative, but got base_seed=-1"),
    (lambda: D.RankAwareSeedGenerator(0, 0), ValueError, r"world_size must be >= 1"),
    (lambda: D.RankAwareSeedGenerator(0, 2).generate_seed(0, 2), ValueError, r"rank \(2\) must be < world_size \(2\)"),
    (lambda: D.RankAwareSeedGenerator(0, 2).generate_seed(-1, 0), ValueError, r"sample_id must be non-negative"),
    (lambda: D.RankAwareSeedGenerator(0, 2).generate_seed(0, 0, 0), ValueError, r"augmentation_depth must be >= 1, but got augmentation_depth=0"),
    (lambda: D.gen_distributed_augmentation_params(0, 1), ValueError, r"rank \(1\) must be < world_size \(1\)"),
    (lambda: D.gen_distributed_augmentation_params(-2, 0), ValueError, r"sample_id must be non-negative, but got sample_id=-2"),
    (lambda: D.gen_distributed_augmentation_params(2**63, 0), ValueError, r"2\*\*63-1"),
    (lambda: D.gen_distributed_augmentation_params(0, 0, base_seed=-1), D.SeedGenerationError, r"base_seed must be non-negative, but got base_seed=-1"),
    (lambda: D.gen_distributed_augmentation_params(0, 0, "mild"), TypeError, r"AugmentationConfig"),
    (lambda: D.gen_distributed_augmentation_params(0, 0, seeding="world"), ValueError, r"seeding should be one of \('rank', 'sample'\), but got seeding='world'"),
    (lambda: D.stream_distributed_augmentation_chain(-1, 0, 1), ValueError, r"num_samples must be non-negative, but got num_samples=-1"),
    (lambda: D.stream_distributed_augmentation_chain(10, -1, 2), ValueError, r"rank must be non-negative"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 0), ValueError, r"world_size must be >= 1"),
    (lambda: D.stream_distributed_augmentation_chain(10, 3, 3), ValueError, r"rank \(3\) must be < world_size \(3\)"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, chunk_size=0), ValueError, r"chunk_size must be positive, but got chunk_size=0"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, split="blocks"), ValueError, r"split should be one of \('contiguous', 'strided'\), but got split='blocks'"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, uneven="fill"), ValueError, r"uneven should be one of"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, epoch=-1), ValueError, r"epoch must be non-negative, but got epoch=-1"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, shuffle=1), TypeError, r"shuffle should be a bool"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, start_id=2**63 - 5), ValueError, r"2\*\*63-1"),
    (lambda: D.stream_distributed_augmentation_range(-1, 5, 0, 1), ValueError, r"start_id must be non-negative"),
    (lambda: D.stream_distributed_augmentation_range(5, 4, 0, 1), ValueError, r"end_id must be >= start_id, but got start_id=5, end_id=4"),
    (lambda: D.shuffle_positions([0, 10], 10), ValueError, r"positions must lie in \[0, n\)"),
]


@pytest.mark.parametrize("call, exc, match", _ERRORS)
def test_errors_name_the_value(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_invalid_rank_is_a_value_error_and_a_distributed_error():
    assert issubclass(D.InvalidRankError, ValueError)
    assert issubclass(D.InvalidRankError, D.DistributedError)
    for cls in (D.RangeSplittingError, D.SeedGenerationError, D.DistributedEnvironmentError):
        assert issubclass(cls, D.DistributedError)


# ---- seeding modes -------------------------------------------------------------


def test_seed_prefixes():
    assert D.seed_prefix("rank", 3, 7) == b"7:3:"
    assert D.seed_prefix("rank", 3, 7, epoch=2) == b"7:3:2:"
    assert D.seed_prefix("sample", 3, 0) == b""
    assert D.seed_prefix("sample", 3, 7) == b"7::"
    assert D.seed_prefix("sample", 3, 0, epoch=0) == b"0::0:"
    assert D.seed_prefix("sample", 3, 7, epoch=5) == b"7::5:"


def _all_ranks(n, w, **kw):
    """Records of every rank's stream, concatenated, and each rank's id list."""
    recs, shares = [], []
    for rank in range(w):
        s = D.stream_distributed_augmentation_chain(n, rank, w, MILD, **kw)
        ids = s.claim()
        shares.append(np.asarray(ids, dtype=np.int64) if not isinstance(ids, range) else
                      np.arange(ids.start, ids.stop, ids.step, dtype=np.int64))
        recs.append(s.generate(ids, hash=True))
    return np.concatenate(recs), shares


@pytest.mark.parametrize("w", [1, 2, 3, 8, 13])
@pytest.mark.parametrize("split", D.SPLIT_MODES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_sample_seeding_is_world_size_invariant(w, split, shuffle):
    n = 1001
    recs, _ = _all_ranks(n, w, seeding="sample", split=split, shuffle=shuffle, epoch=3)
    recs = recs[np.argsort(recs["sample_id"], kind="stable")]
    assert recs.tobytes() == dpa.generate(range(n), MILD, hash=True).tobytes()


def test_sample_seeding_with_base_seed():
    n = 300
    ref, _ = _all_ranks(n, 1, seeding="sample", base_seed=11)
    ref = ref[np.argsort(ref["sample_id"])]
    for w in (2, 5, 7):
        recs, _ = _all_ranks(n, w, seeding="sample", base_seed=11, split="strided", shuffle=True)
        assert recs[np.argsort(recs["sample_id"])].tobytes() == ref.tobytes()
    # The prefix is "11::" -- checked against the pure-Python twin.
    for sid in (0, 17, 299):
        want = _reference.params(sid, MILD, "11::")
        assert [float(ref[sid][f]) for f in FLOATS] == [want[f] for f in FLOATS]
    # and it differs from the plain scheme and from every rank-aware one
    plain = dpa.generate(range(n), MILD)
    assert not np.array_equal(plain["rotation"], ref["rotation"])


def test_rank_seeding_depends_on_world_size():
    a, _ = _all_ranks(100, 2)
    b, _ = _all_ranks(100, 4)
    a, b = a[np.argsort(a["sample_id"])], b[np.argsort(b["sample_id"])]
    assert a["sample_id"].tolist() == b["sample_id"].tolist() == list(range(100))
    # samples 25..49 are on rank 0 with 2 ranks and rank 1 with 4: they differ
    assert not np.array_equal(a["rotation"][25:50], b["rotation"][25:50])
    # samples 0..24 are on rank 0 in both: the same
    assert a[:25].tobytes() == b[:25].tobytes()


def test_epoch_params():
    base = D.stream_distributed_augmentation_chain(50, 1, 2, MILD, seeding="sample")
    e0 = D.stream_distributed_augmentation_chain(50, 1, 2, MILD, seeding="sample", epoch_params=True)
    e1 = D.stream_distributed_augmentation_chain(50, 1, 2, MILD, seeding="sample", epoch=1,
                                                 epoch_params=True)
    e1_no = D.stream_distributed_augmentation_chain(50, 1, 2, MILD, seeding="sample", epoch=1)
    ids = base.ids
    r_base, r0, r1, r1_no = (s.generate(ids) for s in (base, e0, e1, e1_no))
    assert r1_no.tobytes() == r_base.tobytes()  # the default: epoch changes nothing here
    assert not np.array_equal(r0["rotation"], r1["rotation"])
    assert not np.array_equal(r_base["rotation"], r0["rotation"])
    want = _reference.params(ids[0], MILD, "0::1:")
    assert [float(r1[0][f]) for f in FLOATS] == [want[f] for f in FLOATS]
    d = D.gen_distributed_augmentation_params(ids[0], 1, MILD, 0, 2, epoch=1)
    assert d["hash"] == _reference.chain_hash(ids[0], MILD.augmentation_depth, "0:1:1:")


# ---- splits, padding, dropping, shuffling -------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 12, 1001])
@pytest.mark.parametrize("w", [1, 2, 3, 8, 13])
@pytest.mark.parametrize("split", D.SPLIT_MODES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_coverage(n, w, split, shuffle):
    kw = dict(split=split, shuffle=shuffle, epoch=2, base_seed=1, start_id=40)
    everything = list(range(40, 40 + n))
    order = [i for r in range(w) for i in D.rank_sample_ids(n, r, w, **kw)]
    # keep: each id exactly once
    assert sorted(order) == everything
    # pad: equal counts ceil(n / w), every id, the padding repeats the order's first ids
    pad = [list(D.rank_sample_ids(n, r, w, uneven="pad", **kw)) for r in range(w)]
    if n:
        assert {len(p) for p in pad} == {-(-n // w)}
        counts = Counter(i for p in pad for i in p)
        assert set(counts) == set(everything)
        extra = sorted(i for i, c in counts.items() for _ in range(c - 1))
        first = [40 + p for p in D.shuffle_positions(range(n), n, 1, 2)] if shuffle else everything
        assert extra == sorted(first[k % n] for k in range((-n) % w))
    else:
        assert pad == [[]] * w
    # drop: equal counts floor(n / w), no duplicates
    drop = [list(D.rank_sample_ids(n, r, w, uneven="drop", **kw)) for r in range(w)]
    assert {len(d) for d in drop} == {n // w}
    flat = [i for d in drop for i in d]
    assert len(set(flat)) == len(flat) == (n // w) * w


def test_contiguous_keep_is_dpa_and_strided_is_torch():
    for r in range(4):
        assert D.rank_sample_ids(10, r, 4) == range(*D.DistributedRangeSplitter(10, 4).get_rank_range(r))
        assert D.rank_sample_ids(10, r, 4, split="strided") == range(r, 10, 4)
    # pad and drop keep DPA's assignment: a prefix or a superset of it
    assert list(D.rank_sample_ids(10, 2, 4, uneven="pad")) == [6, 7, 0]
    assert list(D.rank_sample_ids(10, 3, 4, uneven="pad")) == [8, 9, 1]
    assert D.rank_sample_ids(10, 0, 4, uneven="drop") == range(0, 2)
    # as torch's DistributedSampler(shuffle=False): indices + indices[:pad], then [r::w]
    idx = list(range(10)) + list(range(2))
    for r in range(4):
        assert list(D.rank_sample_ids(10, r, 4, split="strided", uneven="pad")) == idx[r::4]
        assert list(D.rank_sample_ids(10, r, 4, split="strided", uneven="drop")) == list(range(8))[r::4]


def _feistel_twin(p, n, base_seed, epoch):
    """Pure-Python twin of ``shuffle_positions`` for one position."""
    if n <= 1:
        return p
    d = hashlib.sha256(f"dpa-shuffle:{base_seed}:{epoch}".encode()).digest()
    d += hashlib.sha256(d).digest()
    keys = [int.from_bytes(d[8 * i:8 * i + 8], "little") for i in range(6)]
    half = ((n - 1).bit_length() + 1) // 2
    m64 = 2**64 - 1

    def enc(x):
        left, right = x >> half, x & ((1 << half) - 1)
        for k in keys:
            z = ((right ^ k) * 0xBF58476D1CE4E5B9) & m64
            z ^= z >> 31
            z = (z * 0x94D049BB133111EB) & m64
            left, right = right, left ^ (z >> (64 - half))
        return (left << half) | right

    x = enc(p)
    while x >= n:
        x = enc(x)
    return x


@pytest.mark.parametrize("n", [2, 3, 10, 1000, 65537, 10**12, 2**63])
def test_shuffle_matches_twin(n):
    rng = np.random.default_rng(n % 1000)
    pos = sorted({0, n - 1, *(int(x) for x in rng.integers(0, min(n, 2**62), 50))})
    got = D.shuffle_positions(pos, n, 5, 9).tolist()
    assert got == [_feistel_twin(p, n, 5, 9) for p in pos]


def test_shuffle_is_a_deterministic_permutation():
    n = 200_003
    p = D.shuffle_positions(range(n), n, 0, 4)
    assert np.array_equal(np.sort(p), np.arange(n))
    assert np.array_equal(p, D.shuffle_positions(np.arange(n), n, 0, 4))
    assert not np.array_equal(p, D.shuffle_positions(range(n), n, 0, 5))
    assert not np.array_equal(p, D.shuffle_positions(range(n), n, 1, 4))
    # any subset is the same as the full permutation's entries
    sub = np.arange(7, n, 13)
    assert np.array_equal(D.shuffle_positions(sub, n, 0, 4), p[sub])
    # pinned: the order must not change between releases
    assert D.shuffle_positions(range(10), 10, 0, 0).tolist() == [8, 3, 5, 9, 0, 7, 2, 1, 4, 6]
    assert D.shuffle_positions(range(10), 10, 0, 1).tolist() == [7, 2, 3, 9, 1, 0, 8, 6, 5, 4]


def test_shuffle_positions_are_roughly_uniform():
    # where position 0 lands, over many epochs: no position more than ~3x another
    hits = Counter(int(D.shuffle_positions([0], 10, 0, e)[0]) for e in range(3000))
    assert set(hits) == set(range(10))
    assert max(hits.values()) < 2 * min(hits.values())


def test_shuffled_stream_array_ids():
    s = D.stream_distributed_augmentation_chain(1000, 2, 3, MILD, seeding="sample", split="strided",
                                                shuffle=True, epoch=1, chunk_size=100)
    assert isinstance(s.ids, np.ndarray) and len(s) == 333
    dicts = [d for c in s for d in c]
    want = dpa.generate(D.rank_sample_ids(1000, 2, 3, split="strided", shuffle=True, epoch=1),
                        MILD, hash=True)
    assert [d["hash"] for d in dicts] == [h.decode() for h in want["hash"]]


# ---- scheme="philox" ---------------------------------------------------------------

KEY = 2**40 + 12345  # both 32-bit halves of philox's key are non-zero


def _philox(ids, epoch, key=KEY, config=MILD):
    return dpa.generate(ids, config, scheme="philox", base_seed=key, epoch=epoch)


def _ids_list(ids):
    return [int(i) for i in ids]


@pytest.mark.parametrize("w", [1, 2, 3, 8])
@pytest.mark.parametrize("split", D.SPLIT_MODES)
@pytest.mark.parametrize("uneven", D.UNEVEN_MODES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_philox_records_are_a_function_of_key_epoch_and_id(w, split, uneven, shuffle):
    n, start = 211, 5  # prime: uneven across every world size
    for epoch in (0, 1, 7):
        for epoch_params in (False, True):
            kw = dict(split=split, uneven=uneven, shuffle=shuffle, epoch=epoch, start_id=start)
            pe = epoch if epoch_params else 0
            shares = []
            for rank in range(w):
                s = D.stream_distributed_augmentation_chain(
                    n, rank, w, MILD, base_seed=KEY, scheme="philox",
                    epoch_params=epoch_params, **kw)
                assert (s.scheme, s.seeding, s.prefix) == ("philox", "sample", None)
                ids = s.claim()
                # the split, padding and shuffle are the DPA scheme's
                assert _ids_list(ids) == _ids_list(
                    D.rank_sample_ids(n, rank, w, base_seed=KEY, **kw))
                rec = s.generate(ids)
                assert rec.dtype == dpa.PARAM_DTYPE
                assert rec["sample_id"].tolist() == _ids_list(ids)
                for k, i in enumerate(_ids_list(ids)):  # id by id, as one process
                    one = _philox([i], pe)
                    assert rec[k:k + 1].tobytes() == one.tobytes(), (rank, i)
                    assert [rec[f][k] for f in FLOATS] == [one[f][0] for f in FLOATS]
                shares.append(_ids_list(ids))
            every = [i for share in shares for i in share]
            if uneven == "keep":  # the union over ranks holds every id once
                assert sorted(every) == list(range(start, start + n))
            elif uneven == "pad":
                assert set(every) == set(range(start, start + n))
                assert {len(x) for x in shares} == {-(-n // w)}
            else:
                assert len(set(every)) == len(every) == (n // w) * w


def test_philox_is_world_size_invariant_and_matches_generate():
    n = 1001
    ref = _philox(range(n), 3)
    for w in (1, 2, 3, 8):
        for split in D.SPLIT_MODES:
            recs = np.concatenate([
                np.concatenate(list(D.stream_distributed_augmentation_chain(
                    n, r, w, MILD, base_seed=KEY, scheme="philox", split=split, shuffle=True,
                    epoch=3, epoch_params=True).blocks(97)) or [np.empty(0, dpa.PARAM_DTYPE)])
                for r in range(w)])
            recs = recs[np.argsort(recs["sample_id"], kind="stable")]
            assert recs["sample_id"].tolist() == list(range(n))
            for f in FLOATS:
                assert np.array_equal(recs[f], ref[f]), (w, split, f)


def test_philox_epoch_params():
    n, w = 300, 3

    def params(epoch, epoch_params):
        """Every rank's records for the epoch (in rank order), and sorted by id."""
        recs = []
        for rank in range(w):
            s = D.stream_distributed_augmentation_chain(
                n, rank, w, MILD, base_seed=KEY, scheme="philox", split="strided",
                shuffle=True, epoch=epoch, epoch_params=epoch_params)
            recs.append(s.generate(s.claim()))
        rec = np.concatenate(recs)
        return rec, rec[np.argsort(rec["sample_id"])]

    fixed = [params(e, False) for e in (0, 1, 2)]
    varying = [params(e, True) for e in (0, 1, 2)]
    # the order changes per epoch (shuffle) ...
    assert fixed[0][0]["sample_id"].tolist() != fixed[1][0]["sample_id"].tolist()
    # ... but without epoch_params the parameters of each id do not: philox's epoch 0
    for _, a in fixed:
        assert a["sample_id"].tolist() == list(range(n))
        for f in FLOATS:
            assert np.array_equal(a[f], _philox(range(n), 0)[f])
    # with epoch_params every epoch has its own parameters: philox's epoch E
    for e, (_, a) in enumerate(varying):
        assert a["sample_id"].tolist() == list(range(n))
        for f in FLOATS:
            assert np.array_equal(a[f], _philox(range(n), e)[f])
    for x, y in ((0, 1), (1, 2), (0, 2)):
        for f in FLOATS:
            assert not np.array_equal(varying[x][1][f], varying[y][1][f])
    # epoch_params does not change the order
    for e in range(3):
        assert varying[e][0]["sample_id"].tolist() == fixed[e][0]["sample_id"].tolist()


def test_philox_dicts_carry_rank_and_no_hash():
    n, w, rank = 2500, 3, 2  # more than one dict block per rank
    kw = dict(base_seed=KEY, scheme="philox", split="strided", shuffle=True, epoch=4,
              epoch_params=True)
    s = D.stream_distributed_augmentation_chain(n, rank, w, MILD, **kw)
    ids = _ids_list(s.ids)
    dicts = list(s)
    assert len(dicts) == len(ids) == 833 and s.remaining == 0
    want = _philox(ids, 4)
    assert all(set(d) == set(FLOATS) | {"rank"} for d in dicts)
    assert all(d["rank"] == rank for d in dicts)
    for f in FLOATS:
        assert [d[f] for d in dicts] == want[f].tolist()
    chunks = list(D.stream_distributed_augmentation_chain(n, rank, w, MILD, chunk_size=100, **kw))
    assert [len(c) for c in chunks] == [100] * 8 + [33]
    assert [d for c in chunks for d in c] == dicts
    # half iterated, the rest as arrays: the same records
    s = D.stream_distributed_augmentation_chain(n, rank, w, MILD, **kw)
    head = [next(s) for _ in range(10)]
    assert head == dicts[:10]
    rest = np.concatenate(list(s.blocks(300)))
    assert rest.tobytes() == want[10:].tobytes()


def test_philox_single_sample_params():
    for w, rank in ((1, 0), (2, 1), (8, 5)):
        for sid in (0, 17, 2**63 - 1):
            d = D.gen_distributed_augmentation_params(sid, rank, MILD, KEY, w, scheme="philox")
            assert set(d) == set(FLOATS) | {"rank"} and d["rank"] == rank
            assert [d[f] for f in FLOATS] == [_philox([sid], 0)[f][0] for f in FLOATS]
            d = D.gen_distributed_augmentation_params(sid, rank, MILD, KEY, w, scheme="philox",
                                                      seeding="sample", epoch=9)
            assert [d[f] for f in FLOATS] == [_philox([sid], 9)[f][0] for f in FLOATS]
    # the DPA scheme's defaults are unchanged
    assert D.gen_distributed_augmentation_params(5, 1, MILD, 3, 2) == \
        D.gen_distributed_augmentation_params(5, 1, MILD, 3, 2, scheme="dpa", seeding="rank")


def test_seeding_defaults_per_scheme():
    dpa_stream = D.stream_distributed_augmentation_chain(100, 1, 2, MILD, base_seed=3)
    assert (dpa_stream.scheme, dpa_stream.seeding, dpa_stream.prefix) == ("dpa", "rank", b"3:1:")
    explicit = D.stream_distributed_augmentation_chain(100, 1, 2, MILD, base_seed=3, scheme="dpa",
                                                       seeding="rank")
    assert explicit.generate(explicit.ids, hash=True).tobytes() == \
        dpa_stream.generate(dpa_stream.ids, hash=True).tobytes()
    ph = D.stream_distributed_augmentation_chain(100, 1, 2, MILD, base_seed=3, scheme="philox")
    ph_sample = D.stream_distributed_augmentation_chain(100, 1, 2, MILD, base_seed=3,
                                                        scheme="philox", seeding="sample")
    assert ph.seeding == ph_sample.seeding == "sample"
    assert ph.generate(ph.ids).tobytes() == ph_sample.generate(ph_sample.ids).tobytes() == \
        _philox(range(50, 100), 0, key=3).tobytes()
    assert "scheme='philox'" in repr(ph) and "scheme='dpa'" in repr(dpa_stream)
    direct = D.DistributedParamStream(range(10), 1, 2, MILD, base_seed=3, scheme="philox")
    assert direct.seeding == "sample" and direct.prefix is None
    assert D.DistributedParamStream(range(10), 1, 2, MILD).seeding == "rank"
    # the largest philox key works
    big = D.stream_distributed_augmentation_chain(10, 0, 1, MILD, base_seed=2**64 - 1,
                                                  scheme="philox")
    assert big.generate(big.ids).tobytes() == _philox(range(10), 0, key=2**64 - 1).tobytes()


_PHILOX_ERRORS = [
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, scheme="philox", seeding="rank"),
     r"seeding='rank' does not apply to scheme='philox'"),
    (lambda: D.DistributedParamStream(range(3), 0, 1, scheme="philox", seeding="rank"),
     r"seeding='rank' does not apply to scheme='philox'"),
    (lambda: D.gen_distributed_augmentation_params(0, 0, scheme="philox", seeding="rank"),
     r"seeding='rank' does not apply to scheme='philox'"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, scheme="Philox"),
     r"scheme should be one of \('dpa', 'philox'\), but got scheme='Philox'"),
    (lambda: D.gen_distributed_augmentation_params(0, 0, scheme="mt"),
     r"scheme should be one of \('dpa', 'philox'\), but got scheme='mt'"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, scheme="philox", seeding="x"),
     r"seeding should be one of \('rank', 'sample'\), but got seeding='x'"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, scheme="philox").generate(
        range(3), hash=True), r"hash=True needs scheme='dpa'; scheme='philox' has no hash"),
    (lambda: list(D.stream_distributed_augmentation_chain(10, 0, 1, scheme="philox").blocks(
        4, hash=True)), r"hash=True needs scheme='dpa'"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, base_seed=2**64, scheme="philox"),
     r"base_seed should be < 2\*\*64 for scheme='philox'"),
    (lambda: D.gen_distributed_augmentation_params(0, 0, base_seed=2**64, scheme="philox"),
     r"base_seed should be < 2\*\*64 for scheme='philox'"),
    (lambda: D.stream_distributed_augmentation_chain(10, 0, 1, scheme="philox", epoch=2**32,
                                                     epoch_params=True),
     r"epoch should be < 2\*\*32"),
]


@pytest.mark.parametrize("call, match", _PHILOX_ERRORS)
def test_philox_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_scheme_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"scheme should be one of \('dpa', 'philox'\), but got scheme=None"):
        D.DistributedParamStream(range(3), 0, 1, scheme=None)


def test_philox_shuffle_epoch_is_unbounded_without_epoch_params():
    # the order's epoch is not philox's epoch unless epoch_params
    s = D.stream_distributed_augmentation_chain(50, 0, 2, MILD, base_seed=KEY, scheme="philox",
                                                shuffle=True, epoch=2**40)
    assert s.generate(s.ids).tobytes() == _philox(s.ids, 0).tobytes()


# ---- from_env -------------------------------------------------------------------


def test_from_env_variables(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch.distributed", raising=False)
    assert D.from_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}) == (3, 8, 1, "environment")
    assert D.from_env({"RANK": "0", "WORLD_SIZE": "1"}) == (0, 1, None, "environment")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert D.from_env()[:2] == (2, 4)


@pytest.mark.parametrize(
    "env, exc, match",
    [
        ({}, D.DistributedEnvironmentError, r"neither RANK and WORLD_SIZE are set .*torchrun"),
        ({"RANK": "1"}, D.DistributedEnvironmentError, r"WORLD_SIZE is not set but RANK is"),
        ({"WORLD_SIZE": "2"}, D.DistributedEnvironmentError, r"RANK is not set but WORLD_SIZE is"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, ValueError, r"RANK should be an integer, but got RANK='x'"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, ValueError, r"RANK must be in \[0, WORLD_SIZE\), but got RANK=2, WORLD_SIZE=2"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, ValueError, r"WORLD_SIZE must be >= 1, but got WORLD_SIZE=0"),
    ],
)
def test_from_env_errors(monkeypatch, env, exc, match):
    monkeypatch.delitem(sys.modules, "torch.distributed", raising=False)
    with pytest.raises(exc, match=match):
        D.from_env(env)


def test_from_env_prefers_initialised_torch_distributed(monkeypatch):
    fake = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True,
                                 get_rank=lambda: 5, get_world_size=lambda: 6)
    monkeypatch.setitem(sys.modules, "torch.distributed", fake)
    assert D.from_env({"LOCAL_RANK": "1"}) == (5, 6, 1, "torch.distributed")
    fake.is_initialized = lambda: False
    assert D.from_env({"RANK": "1", "WORLD_SIZE": "2"}).source == "environment"


def test_dpa_torch_without_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes "import torch" fail
    monkeypatch.delitem(sys.modules, "dpa.torch", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'dpa-augment\[torch\]'"):
        importlib.import_module("dpa.torch")


def test_import_dpa_does_not_import_torch():
    import subprocess

    code = "import sys, dpa, dpa.distributed; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_feistel_kernel_rejects_what_would_corrupt_memory():
    from dpa import _core

    pos = np.arange(10, dtype=np.int64)
    with pytest.raises(ValueError, match="C-contiguous 1-D int64"):
        _core.feistel_permute(pos.astype(np.int32), np.empty(10, np.int64), 10, [1])
    with pytest.raises(ValueError, match="as long as positions"):
        _core.feistel_permute(pos, np.empty(9, np.int64), 10, [1])
    with pytest.raises(ValueError, match="1 to 16 keys"):
        _core.feistel_permute(pos, np.empty(10, np.int64), 10, [])
    with pytest.raises(ValueError, match="1 to 16 keys"):
        _core.feistel_permute(pos, np.empty(10, np.int64), 1, [1])
    # in place is allowed, and gives the same as into another array
    other = _core.feistel_permute(pos, np.empty(10, np.int64), 10, [3, 4, 5])
    assert _core.feistel_permute(pos, pos, 10, [3, 4, 5]) is pos
    assert np.array_equal(pos, other) and sorted(pos.tolist()) == list(range(10))


@pytest.mark.parametrize("count", [1, 2, 7, 8, 9, 17, 100])
def test_shuffle_any_count_matches_twin(count):
    """The kernel keeps eight positions in flight: every count, in any order."""
    n = 1000
    pos = np.random.default_rng(count).integers(0, n, count)
    assert D.shuffle_positions(pos, n, 2, 3).tolist() == [_feistel_twin(int(p), n, 2, 3) for p in pos]
