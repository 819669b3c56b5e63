"""Type stubs for the compiled module ``dpa._core`` (private)."""

from typing import Sequence

import numpy as np
import numpy.typing as npt

PATH_AVX2: int
PATH_SHANI: int
PATH_AVX512: int

def cpu_paths() -> int: ...
def chain_choice() -> tuple[int, float, float]: ...
def _force_chain_choice(bit: int) -> None: ...
def chain_tail_blocks(
    fib_strings: Sequence[bytes],
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...

class Kernel:
    """The base of every scheme's kernel: its fill function, plan and layout."""

    @property
    def record_size(self) -> int: ...
    @property
    def hash_size(self) -> int: ...
    @property
    def scheme(self) -> str: ...
    @property
    def has_hash(self) -> bool: ...
    @property
    def out(self) -> np.ndarray | None: ...

class DPAKernel(Kernel):
    def __init__(
        self,
        prefix: bytes,
        tail_wk: npt.NDArray[np.uint32],
        tail_start: npt.NDArray[np.int64],
        lows: Sequence[float],
        spans: Sequence[float],
    ) -> None: ...

class PhiloxKernel(Kernel):
    def __init__(
        self, seed: int, epoch: int, lows: Sequence[float], spans: Sequence[float]
    ) -> None: ...

MAX_PARTS: int

class Team:
    def __init__(self, spin_ns: int) -> None: ...
    def work(self, index: int) -> None: ...
    def wait_ready(self, count: int) -> None: ...
    def start(
        self,
        kernel: Kernel,
        out: np.ndarray,
        bounds: Sequence[int] | int,
        ids: npt.NDArray[np.int64] | None,
        first: int,
        step: int,
        hash_offset: int,
        paths: int,
        chunk: int,
        max_chunk: int = 0,
        grain: int = 1,
        row_len: int = 0,
        row_step: int = 0,
        notify_left: int = 0,
    ) -> int: ...
    def join(self, gen: int, timeout: float | None = None, help: bool = False) -> bool: ...
    def poll(self, gen: int) -> int: ...
    def cancel(self, gen: int) -> None: ...
    def stop(self) -> None: ...

def fill(
    kernel: Kernel,
    out: np.ndarray,
    bounds: Sequence[int] | int,
    ids: npt.NDArray[np.int64] | None,
    first: int,
    step: int,
    hash_offset: int,
    paths: int,
    team: Team | None = None,
    chunk: int = 0,
    max_chunk: int = 0,
    grain: int = 1,
    row_len: int = 0,
    row_step: int = 0,
) -> None: ...

POOL_MIN_BYTES: int

def empty_pooled(n: int, dtype: np.dtype) -> np.ndarray: ...
def empty_records(n: int, dtype: np.dtype) -> np.ndarray: ...
def pool_set_limit(nbytes: int) -> int: ...
def pool_stats() -> dict[str, int]: ...

def philox4x32_10(ctr: Sequence[int], key: Sequence[int]) -> list[int]: ...
def sha256_compress_loop(nblocks: int, paths: int) -> list[int]: ...
def gather_strided(src: np.ndarray, out: np.ndarray, start: int, step: int) -> np.ndarray: ...
def feistel_permute(
    positions: npt.NDArray[np.int64], out: npt.NDArray[np.int64], n: int, keys: Sequence[int]
) -> npt.NDArray[np.int64]: ...
def welford_update(
    values: npt.NDArray[np.float64], n: float, mean: float, m2: float
) -> tuple[float, float, float]: ...

# ---- pixel noise: philox-normal-v1 ----------------------------------------------

NOISE_MAX_PIXELS: int

class NoiseKernel(Kernel):
    def __init__(
        self,
        seed: int,
        ids: npt.NDArray[np.int64],
        epochs: npt.NDArray[np.uint32],
        stds: npt.NDArray[np.float64],
        out: npt.NDArray[np.float32],
        first: int,
    ) -> None: ...
    @property
    def out(self) -> npt.NDArray[np.float32]: ...

def noise_fill(
    seed: int,
    ids: npt.NDArray[np.int64],
    epochs: npt.NDArray[np.uint32],
    stds: npt.NDArray[np.float64],
    out: npt.NDArray[np.float32],
    first: int,
    paths: int,
) -> None: ...
def noise_pair(a: int, b: int) -> tuple[float, float]: ...


# ---- JSON text of records (dpa.compat) ------------------------------------------

def float_repr(values: npt.NDArray[np.float64]) -> list[str]: ...
def json_records(
    prefixes: list[bytes],
    suffix: bytes,
    floats: npt.NDArray[np.float64],
    strings: npt.NDArray[np.uint8] | None = None,
    ints: npt.NDArray[np.int64] | None = None,
    kinds: list[int] | None = None,
    out: npt.NDArray[np.uint8] | None = None,
) -> tuple[npt.NDArray[np.uint8], int]: ...
def dict_fields(
    dicts: list[object],
    start: int,
    keys: tuple[str, ...],
    kinds: list[int],
    floats: npt.NDArray[np.float64],
    strings: npt.NDArray[np.uint8] | None = None,
    ints: npt.NDArray[np.int64] | None = None,
) -> int: ...
def record_dicts(
    keys: tuple[str, ...],
    floats: npt.NDArray[np.float64],
    strings: npt.NDArray[np.uint8] | None = None,
    extra: tuple[tuple[str, object], ...] = (),
) -> list[dict[str, object]]: ...
def dict_floats(dicts: list[object], keys: tuple[str, ...], floats: npt.NDArray[np.float64]) -> int: ...
