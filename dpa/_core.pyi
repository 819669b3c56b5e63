"""Type stubs for the compiled module ``dpa._core`` (private)."""

from typing import Sequence

import numpy as np
import numpy.typing as npt

PATH_AVX2: int
PATH_SHANI: int

def cpu_paths() -> int: ...
def chain_tail_blocks(
    fib_strings: Sequence[bytes],
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...

class DPAKernel:
    def __init__(
        self,
        prefix: bytes,
        tail_wk: npt.NDArray[np.uint32],
        tail_start: npt.NDArray[np.int64],
        lows: Sequence[float],
        spans: Sequence[float],
    ) -> None: ...
    def fill(
        self, out: np.ndarray, start: int, stop: int, hash_offset: int, paths: int
    ) -> None: ...

def fill_range_ids(out: np.ndarray, start: int, stop: int, first: int, step: int) -> None: ...
def sha256_compress_loop(nblocks: int, paths: int) -> list[int]: ...
