# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled kernels of dpa (private; use the public modules).

Layers, in order (see ``src/dpa_kernel.h`` for the algorithm):

1. C kernels in ``src/``, one file per scheme, each exporting a fill function
   of the one signature ``dpa_fill_fn`` (``src/fill.h``): ``dpa_fill`` computes
   DPA 0.2.1 records for a block of sample ids, choosing portable, AVX2 or
   SHA-NI code at run time; ``dpa_philox_fill`` does the same for the
   ``philox-v1`` scheme.  ``team.c`` hands the parts of a job to worker
   threads (``src/team.h``) and calls the job's fill function by pointer: it
   names no scheme.
2. This module: :class:`Kernel` is what :func:`fill` knows of a scheme -- its
   C fill function, a pointer to its plan, and the record layout it writes
   (bytes from offset 0, and the size of its hash field, 0 for none).
   ``DPAKernel`` and ``PhiloxKernel`` derive from it and hold their plans
   (for DPA: the prefix, depth, ranges and the pre-expanded constant blocks
   of the hash chain); so does ``NoiseKernel``, whose items are the float32
   values of ``philox-normal-v1`` pixel noise rather than records, so that
   the team runs the noise too.  :func:`fill` fills a record array with the GIL
   released, its parts run by a :class:`Team` or one after another in the
   calling thread; it checks the layout against the kernel's declaration and
   never asks which scheme it has.  Inputs are validated by the Python
   callers (``dpa.engine``); these functions only check what would otherwise
   corrupt memory.

A new scheme touches three places: its kernel file in ``src/`` (a plan struct
and a ``dpa_fill_fn``; setup.py compiles every C file there), its declaration
here (the C names in a ``cdef extern`` block and a ``Kernel`` subclass that
builds the plan and sets ``fill``, ``plan``, ``record_size``, ``hash_size``
and ``scheme``), and its entry in the scheme table of ``dpa/seeding.py``.
Nothing else names schemes.
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy
from cpython.exc cimport PyErr_CheckSignals

import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef extern from "src/fill.h" nogil:
    int DPA_RECORD_SIZE
    int DPA_PATH_AVX2
    int DPA_PATH_SHANI
    int DPA_PATH_AVX512
    ctypedef struct dpa_ids:
        const int64_t *ids
        int64_t first
        int64_t step
    ctypedef int (*dpa_fill_fn)(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                                int64_t itemsize, int64_t hash_offset, int paths) noexcept nogil
    int dpa_cpu_paths()

# ---- the schemes' kernels (one block per scheme) ------------------------------

cdef extern from "src/dpa_kernel.h" nogil:
    int DPA_HASH_SIZE
    ctypedef struct dpa_plan:
        const unsigned char *prefix
        int64_t prefix_len
        int64_t depth
        const uint32_t *tail_wk
        const int64_t *tail_start
        double low[5]
        double span[5]
    void dpa_expand_block(const unsigned char *block, uint32_t *wk)
    int dpa_fill(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                 int64_t itemsize, int64_t hash_offset, int paths)
    void dpa_sha256_compress_bytes(uint32_t *state, const unsigned char *block, int paths)
    int dpa_chain_choice(double *ns)
    void dpa_force_chain_choice(int choice)

cdef extern from "src/philox_kernel.h" nogil:
    ctypedef struct philox_plan:
        uint32_t key[2]
        uint32_t epoch
        double low[5]
        double span[5]
    void dpa_philox4x32_10(const uint32_t *ctr, const uint32_t *key, uint32_t *out)
    int dpa_philox_fill(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                        int64_t itemsize, int64_t hash_offset, int paths)

# ---- the team -------------------------------------------------------------------

cdef extern from "src/team.h" nogil:
    int DPA_TEAM_MAX_PARTS
    ctypedef struct dpa_job:
        dpa_fill_fn fill
        const void *plan
        dpa_ids ids
        char *rec
        int64_t itemsize
        int64_t hash_offset
        int paths
        int nparts
        int64_t chunk
        int64_t max_chunk
        int64_t grain
        int64_t row_len
        int64_t row_step
        int64_t notify_left
        int64_t bounds[257]
    ctypedef struct dpa_team:
        pass
    dpa_team *dpa_team_new(int64_t spin_ns)
    void dpa_team_work(dpa_team *team, int index)
    void dpa_team_wait_ready(dpa_team *team, int count)
    uint64_t dpa_team_start(dpa_team *team, const dpa_job *job, int caller)
    int dpa_team_join(dpa_team *team, uint64_t gen, int64_t deadline_ns, int help)
    int dpa_team_poll(dpa_team *team, uint64_t gen)
    void dpa_team_cancel(dpa_team *team, uint64_t gen)
    int dpa_job_run_range(const dpa_job *job, int64_t a, int64_t n)
    int64_t dpa_now_ns()
    void dpa_team_stop(dpa_team *team)

PATH_AVX2 = DPA_PATH_AVX2
PATH_SHANI = DPA_PATH_SHANI
PATH_AVX512 = DPA_PATH_AVX512
_CPU_PATHS = dpa_cpu_paths()  # detected once, with the GIL held


def cpu_paths():
    """Bitmask of the accelerated paths this CPU supports (``PATH_*``)."""
    return _CPU_PATHS


def chain_choice():
    """The DPA scheme's run-time choice for its hash chain where AVX-512 and SHA-NI
    are both enabled: ``(bit, avx512_ns, shani_ns)``.

    ``bit`` is ``PATH_AVX512`` or ``PATH_SHANI`` (the faster on this CPU,
    measured once per process: 16 lanes of a short chain on each), or the one
    of the two the CPU has, 0 for neither; the two times are the measured
    nanoseconds of those 16 lanes (0.0 when not measured).  Records never
    depend on it.
    """
    cdef double ns[2]
    cdef int bit
    with nogil:
        bit = dpa_chain_choice(ns)
    return bit, ns[0], ns[1]


def _force_chain_choice(int bit):
    """Test hook: make the DPA kernel use ``bit`` (``PATH_AVX512`` or
    ``PATH_SHANI``) for its hash chain where both are enabled; 0 restores the
    measured choice."""
    if bit not in (0, DPA_PATH_AVX512, DPA_PATH_SHANI):
        raise ValueError("bit must be 0, PATH_AVX512 or PATH_SHANI")
    dpa_force_chain_choice(bit)


def chain_tail_blocks(fib_strings):
    """Pre-expanded tail blocks of the hash chain, for ``DPAKernel``.

    Step ``i`` hashes ``hex(h) + fib_strings[i]``: 64 bytes that depend on the
    sample, then ``fib_strings[i]`` and the SHA-256 padding, which do not.
    Returns ``(wk, start)``: ``wk`` a ``(blocks, 64)`` uint32 array of
    ``W[t] + K[t]`` per constant block, ``start`` the first block of each step.
    """
    cdef Py_ssize_t i, b
    tails = []
    start = np.zeros(len(fib_strings) + 1, dtype=np.int64)
    for i, s in enumerate(fib_strings):
        msg_len = 64 + len(s)
        tail_len = (len(s) + 9 + 63) // 64 * 64
        tail = s + b"\x80" + bytes(tail_len - len(s) - 9) + (8 * msg_len).to_bytes(8, "big")
        tails.append(tail)
        start[i + 1] = start[i] + tail_len // 64
    cdef bytes blob = b"".join(tails)
    cdef cnp.ndarray[uint32_t, ndim=2] wk = np.empty((start[len(fib_strings)], 64), dtype=np.uint32)
    cdef const unsigned char *p = blob
    for b in range(wk.shape[0]):
        dpa_expand_block(p + 64 * b, &wk[b, 0])
    return wk, start


cdef class Kernel:
    """A compiled plan of some scheme: what :func:`fill` needs to know of it.

    The base of every scheme's kernel class (and of ``NoiseKernel``); not
    built directly.  A subclass holds its plan and, in ``__cinit__``, declares:

    ``fill``
        its C fill function (``dpa_fill_fn``, ``src/fill.h``);
    ``plan``
        a pointer to the plan it holds, passed to ``fill`` as it is;
    ``record_size``
        the bytes ``fill`` writes from a record's offset 0 (the int64 id and
        the five float64 fields: 48);
    ``hash_size``
        the bytes of its hash field, written at ``hash_offset``, or 0 if the
        scheme has none;
    ``scheme``
        its name, for messages;
    ``out``
        None (a record scheme: its records go wherever :func:`fill` is told),
        or the one array its plan writes into (``NoiseKernel``): :func:`fill`
        then refuses any other.
    """

    cdef dpa_fill_fn fill
    cdef const void *plan
    cdef readonly int64_t record_size
    cdef readonly int64_t hash_size
    cdef readonly str scheme
    cdef readonly object out

    @property
    def has_hash(self):
        """Whether this kernel's records can carry a hash field."""
        return self.hash_size > 0


cdef class DPAKernel(Kernel):
    """A compiled plan for DPA 0.2.1's scheme: fills records for sample ids.

    Parameters
    ----------
    prefix : bytes
        Hashed before the decimal sample id (``b""``, or DPA's rank-aware
        ``b"{base_seed}:{rank}:"``).
    tail_wk, tail_start : ndarray
        From :func:`chain_tail_blocks` for the config's depth.
    lows, spans : sequence of 5 floats
        ``float(low)`` and ``float(high - low)`` per field.
    """

    cdef dpa_plan _plan
    cdef bytes _prefix
    cdef object _wk, _start

    def __cinit__(self, bytes prefix, cnp.ndarray tail_wk, cnp.ndarray tail_start, lows, spans):
        cdef int k
        if tail_wk.dtype != np.uint32 or not tail_wk.flags.c_contiguous or tail_wk.ndim != 2 \
                or tail_wk.shape[1] != 64:
            raise ValueError("tail_wk must be a C-contiguous (blocks, 64) uint32 array")
        if tail_start.dtype != np.int64 or not tail_start.flags.c_contiguous \
                or tail_start.ndim != 1 or tail_start.shape[0] < 2 \
                or tail_start[tail_start.shape[0] - 1] != tail_wk.shape[0]:
            raise ValueError("tail_start must be int64 with depth + 1 entries ending at len(tail_wk)")
        if len(lows) != 5 or len(spans) != 5:
            raise ValueError("lows and spans must have 5 entries")
        self._prefix = prefix
        self._wk = tail_wk
        self._start = tail_start
        self._plan.prefix = <const unsigned char *>self._prefix
        self._plan.prefix_len = len(prefix)
        self._plan.depth = tail_start.shape[0] - 1
        self._plan.tail_wk = <const uint32_t *>cnp.PyArray_DATA(tail_wk)
        self._plan.tail_start = <const int64_t *>cnp.PyArray_DATA(tail_start)
        for k in range(5):
            self._plan.low[k] = float(lows[k])
            self._plan.span[k] = float(spans[k])
        self.fill = dpa_fill
        self.plan = &self._plan
        self.record_size = DPA_RECORD_SIZE
        self.hash_size = DPA_HASH_SIZE
        self.scheme = "dpa"


cdef class PhiloxKernel(Kernel):
    """A compiled plan for the ``philox-v1`` scheme (see ``src/philox_kernel.h``).

    Parameters
    ----------
    seed : int
        64-bit key, ``0 <= seed < 2**64``.
    epoch : int
        ``0 <= epoch < 2**32``.
    lows, spans : sequence of 5 floats
        ``float(low)`` and ``float(high - low)`` per field.
    """

    cdef philox_plan _plan

    def __cinit__(self, seed, epoch, lows, spans):
        cdef int k
        if not (0 <= seed < 2**64) or not (0 <= epoch < 2**32):
            raise ValueError("seed must be in [0, 2**64) and epoch in [0, 2**32)")
        if len(lows) != 5 or len(spans) != 5:
            raise ValueError("lows and spans must have 5 entries")
        self._plan.key[0] = <uint32_t>(seed & 0xffffffff)
        self._plan.key[1] = <uint32_t>(seed >> 32)
        self._plan.epoch = <uint32_t>epoch
        for k in range(5):
            self._plan.low[k] = float(lows[k])
            self._plan.span[k] = float(spans[k])
        self.fill = dpa_philox_fill
        self.plan = &self._plan
        self.record_size = DPA_RECORD_SIZE
        self.hash_size = 0
        self.scheme = "philox"


# ---- filling records: jobs, and the team that runs their parts --------------

#: The longest a caller stays in C without looking at Python's signals: a
#: call longer than this takes the GIL between slices of this length, so that
#: a KeyboardInterrupt arrives within about a slice plus one piece.
cdef enum:
    SLICE_NS = 100000000


cdef int _job_for(dpa_job *job, kernel, cnp.ndarray out, bounds, ids, int64_t first,
                  int64_t step, int hash_offset, int paths) except -1:
    """Fill ``job`` for ``kernel`` after checking what could corrupt memory.

    ``out`` is a writeable C-contiguous 1-D record array whose items hold the
    ``kernel.record_size`` bytes the kernel writes from offset 0 (the int64
    sample id, five float64 fields) and, if the kernel has a hash field, its
    ``kernel.hash_size`` bytes at byte ``hash_offset`` (-1: no hash).
    ``bounds`` (``0 = b0 <= b1 <= ... <= len(out)``) cuts records ``0 ..
    bounds[-1]-1`` into parts; an int ``n`` is the one part ``[0, n]``.
    Record ``i``'s id is ``ids[i]`` if ``ids`` is an int64 array, else
    ``first + i * step``.  The checks read the arrays through NumPy's C API
    (no Python attribute lookups), so that a call of one id stays cheap.
    """
    cdef Py_ssize_t k, nparts
    cdef int64_t n
    cdef cnp.ndarray arr
    cdef Kernel kern
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel should be a dpa kernel (dpa._core.Kernel), not "
                        f"{type(kernel).__name__}")
    kern = <Kernel>kernel
    if kern.fill == NULL or kern.plan == NULL:
        raise TypeError(f"kernel {type(kernel).__name__} has no fill function")
    if kern.out is not None and out is not kern.out:
        raise ValueError(f"the {kern.scheme} kernel fills only its own array (kernel.out)")
    if cnp.PyArray_NDIM(out) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(out) \
            or not cnp.PyArray_ISWRITEABLE(out):
        raise ValueError("out must be a writeable C-contiguous 1-D array")
    cdef int64_t itemsize = cnp.PyArray_ITEMSIZE(out)
    if itemsize < kern.record_size:
        raise ValueError("record layout does not fit the item size")
    if hash_offset != -1:
        if kern.hash_size <= 0:
            raise ValueError(f"the {kern.scheme} scheme has no hash field")
        if hash_offset < kern.record_size or hash_offset > itemsize - kern.hash_size:
            raise ValueError("record layout does not fit the item size")
    if isinstance(bounds, int):
        nparts = 1
        job.bounds[0] = 0
        job.bounds[1] = bounds
        if job.bounds[1] < 0:
            raise ValueError("bounds must not decrease")
    else:
        nparts = len(bounds) - 1
        if not (1 <= nparts <= DPA_TEAM_MAX_PARTS):
            raise ValueError(f"a job has 1 to {DPA_TEAM_MAX_PARTS} parts, but got {nparts}")
        job.bounds[0] = bounds[0]
        if job.bounds[0] != 0:
            raise ValueError("bounds must start at 0")
        for k in range(1, nparts + 1):
            job.bounds[k] = bounds[k]
            if job.bounds[k] < job.bounds[k - 1]:
                raise ValueError("bounds must not decrease")
    n = job.bounds[nparts]
    if n > cnp.PyArray_DIM(out, 0):
        raise IndexError(f"bounds end at {n}, past the {cnp.PyArray_DIM(out, 0)} records of out")
    job.fill = kern.fill
    job.plan = kern.plan
    if ids is None:
        job.ids.ids = NULL
        job.ids.first = first
        job.ids.step = step
    else:
        if not isinstance(ids, cnp.ndarray):
            raise ValueError("ids must be a C-contiguous int64 array covering the records")
        arr = <cnp.ndarray>ids
        if cnp.PyArray_TYPE(arr) != cnp.NPY_INT64 or cnp.PyArray_NDIM(arr) != 1 \
                or not cnp.PyArray_IS_C_CONTIGUOUS(arr) or cnp.PyArray_DIM(arr, 0) < n:
            raise ValueError("ids must be a C-contiguous int64 array covering the records")
        job.ids.ids = <const int64_t *>cnp.PyArray_DATA(arr)
        job.ids.first = 0
        job.ids.step = 0
    job.rec = <char *>cnp.PyArray_DATA(out)
    job.itemsize = itemsize
    job.hash_offset = hash_offset
    job.paths = paths
    job.nparts = <int>nparts
    job.chunk = 0
    job.max_chunk = 0
    job.grain = 1
    job.row_len = 0
    job.row_step = 0
    job.notify_left = 0
    return 0


cdef int _pieces(dpa_job *job, int64_t chunk, int64_t max_chunk, int64_t grain,
                 int64_t row_len, int64_t row_step) except -1:
    """Piece sizes and the row layout (``row_len > 0``: ids ``first + r *
    row_step + j * step`` for record ``j`` of row ``r``; no id array)."""
    if chunk < 0 or max_chunk < 0 or grain < 1:
        raise ValueError("chunk and max_chunk must be non-negative and grain positive")
    if row_len < 0 or (row_len > 0 and job.ids.ids != NULL):
        raise ValueError("rows need ids given as first and step, and row_len >= 0")
    job.chunk = chunk
    job.max_chunk = max_chunk
    job.grain = grain
    job.row_len = row_len
    job.row_step = row_step
    return 0


#: Calls of at most this many records run with the GIL held: releasing and
#: taking it back costs more than a few records.
cdef enum:
    SMALL_CALL = 16


cdef int _run_here(dpa_job *job) except -1:
    """Run all of ``job`` in this thread, in pieces of at most ``max_chunk``
    records, looking at Python's signals every slice (see ``SLICE_NS``)."""
    cdef int64_t a = 0, n = job.bounds[job.nparts], size, deadline
    cdef int64_t piece = job.max_chunk if job.max_chunk > 0 else n
    cdef int rc = 0
    if n <= SMALL_CALL:
        if dpa_job_run_range(job, 0, n) != 0:
            raise MemoryError("dpa kernel could not allocate its scratch memory")
        return 0
    while True:
        with nogil:
            deadline = dpa_now_ns() + SLICE_NS
            while a < n:
                size = piece if piece < n - a else n - a
                if dpa_job_run_range(job, a, size) != 0:
                    rc = -1
                a += size
                if a < n and dpa_now_ns() >= deadline:
                    break
        if rc != 0:
            raise MemoryError("dpa kernel could not allocate its scratch memory")
        if a >= n:
            return 0
        PyErr_CheckSignals()  # a KeyboardInterrupt leaves the rest unwritten


cdef int _join(dpa_team *team, uint64_t gen) except -1:
    """Join job ``gen`` slice by slice; on an exception from a signal handler,
    stop the job and wait until no participant writes any more, then raise."""
    cdef int r
    while True:
        with nogil:
            r = dpa_team_join(team, gen, dpa_now_ns() + SLICE_NS, 0)
        if r != 0:
            break
        try:
            PyErr_CheckSignals()
        except BaseException:
            dpa_team_cancel(team, gen)
            with nogil:
                dpa_team_join(team, gen, -1, 0)
            raise
    if r < 0:
        raise MemoryError("dpa kernel could not allocate its scratch memory")
    return 0


cdef class Team:
    """Worker threads for :func:`fill` (see ``src/team.h``).

    The caller starts ``threading.Thread(target=team.work, args=(k,))`` for
    ``k = 1, 2, ...`` and waits with :meth:`wait_ready`; :func:`fill` then
    runs part ``k`` of a job in worker ``k``, and :meth:`start` runs a job in
    the workers alone while the caller goes on.  One job at a time: callers
    serialise their use of a team (``dpa._team``).  A team is never freed (a
    worker may still be inside it, and a forked child inherits it without its
    threads).

    Parameters
    ----------
    spin_ns : int
        How long an idle worker, and a caller waiting for its workers, spin
        before they sleep.
    """

    cdef dpa_team *team

    def __cinit__(self, int64_t spin_ns):
        if spin_ns < 0:
            raise ValueError("spin_ns must be non-negative")
        self.team = dpa_team_new(spin_ns)
        if self.team == NULL:
            raise MemoryError("could not allocate a worker team")

    def work(self, int index):
        """Worker ``index``'s body (``1 <= index < MAX_PARTS``), until :meth:`stop`."""
        if not (1 <= index < DPA_TEAM_MAX_PARTS):
            raise ValueError(f"worker index must be in [1, {DPA_TEAM_MAX_PARTS})")
        with nogil:
            dpa_team_work(self.team, index)

    def wait_ready(self, int count):
        """Block until ``count`` workers are inside :meth:`work`."""
        with nogil:
            dpa_team_wait_ready(self.team, count)

    def start(self, kernel, cnp.ndarray out, bounds, ids, int64_t first, int64_t step,
              int hash_offset, int paths, int64_t chunk, int64_t max_chunk=0,
              int64_t grain=1, int64_t row_len=0, int64_t row_step=0,
              int64_t notify_left=0):
        """Post a background job and return its generation at once.

        The ``len(bounds) - 1`` parts (or, with ``chunk > 0``, guided pieces)
        run in workers ``1 .. len(bounds) - 1``, which must be running; the
        caller takes no part.  The caller keeps ``out`` and ``ids`` alive and
        unchanged until :meth:`poll` or :meth:`join` says the job is complete.
        A joiner waits asleep until at most ``notify_left`` records are left
        to take, then spins, so that it is awake when the job completes.
        Other arguments as :func:`fill`.
        """
        cdef dpa_job job
        _job_for(&job, kernel, out, bounds, ids, first, step, hash_offset, paths)
        _pieces(&job, chunk, max_chunk, grain, row_len, row_step)
        if notify_left < 0:
            raise ValueError("notify_left must be non-negative")
        job.notify_left = notify_left
        if job.nparts >= DPA_TEAM_MAX_PARTS:
            raise ValueError(f"a background job has at most {DPA_TEAM_MAX_PARTS - 1} parts")
        return dpa_team_start(self.team, &job, 0)

    def join(self, uint64_t gen, timeout=None, bint help=False):
        """Wait for job ``gen`` (``timeout`` seconds at most; None: until done).

        With ``help``, take the pieces of a background job that are left,
        as a worker does, instead of only waiting.  Returns True when it is
        complete (or superseded), False at the timeout; ``MemoryError`` if a
        piece could not allocate scratch memory.  Signals are not looked at
        here: call it in a loop with a timeout.
        """
        cdef int64_t deadline = -1
        cdef int r
        cdef int h = help
        if timeout is not None:
            deadline = dpa_now_ns() + <int64_t>(max(0.0, float(timeout)) * 1e9)
        with nogil:
            r = dpa_team_join(self.team, gen, deadline, h)
        if r < 0:
            raise MemoryError("dpa kernel could not allocate its scratch memory")
        return r != 0

    def poll(self, uint64_t gen):
        """1 if job ``gen`` is complete, -1 if complete but a piece failed, else 0."""
        return dpa_team_poll(self.team, gen)

    def cancel(self, uint64_t gen):
        """Make the participants of job ``gen`` stop after their current piece."""
        dpa_team_cancel(self.team, gen)

    def stop(self):
        """Make the workers return from :meth:`work` once idle."""
        dpa_team_stop(self.team)


MAX_PARTS = DPA_TEAM_MAX_PARTS


def fill(kernel, cnp.ndarray out, bounds, ids, int64_t first, int64_t step, int hash_offset,
         int paths, Team team=None, int64_t chunk=0, int64_t max_chunk=0, int64_t grain=1,
         int64_t row_len=0, int64_t row_step=0):
    """Fill records ``out[:bounds[-1]]`` with ``kernel``, the GIL released.

    Part ``k`` is records ``bounds[k] .. bounds[k+1]-1`` (an int ``n``: one
    part, ``[0, n]``).  With ``team``, part 0 runs in this thread and part
    ``k`` in worker ``k`` (which must be running); with ``team`` and
    ``chunk > 0``, these ``len(bounds) - 1`` threads instead take guided
    pieces of ``chunk`` to ``max_chunk`` records (0: no upper limit), multiples
    of ``grain``, until all are done (``src/team.h``).  Without ``team``, this
    thread fills them all, in pieces of at most ``max_chunk``.  With
    ``row_len > 0`` (and ``ids`` None) record ``j`` of row ``r`` (records
    ``r * row_len ..``) is sample ``first + r * row_step + j * step``.

    A call longer than 0.1 s looks at Python's signals every 0.1 s: a
    KeyboardInterrupt stops every participant after its current piece, and
    is raised once none writes into ``out`` any more.  The records depend on
    none of this.  See ``_job_for`` for the layout.
    """
    cdef dpa_job job
    cdef uint64_t gen
    _job_for(&job, kernel, out, bounds, ids, first, step, hash_offset, paths)
    _pieces(&job, chunk, max_chunk, grain, row_len, row_step)
    if team is None or job.nparts <= 1:
        _run_here(&job)
    else:
        with nogil:
            gen = dpa_team_start(team.team, &job, 1)
        _join(team.team, gen)


def philox4x32_10(ctr, key):
    """One Philox4x32-10 block: 4 counter words and 2 key words to 4 words.

    Test hook for the known-answer vectors of Random123.
    """
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t o[4]
    cdef int i
    if len(ctr) != 4 or len(key) != 2:
        raise ValueError("philox4x32_10 takes 4 counter words and 2 key words")
    for i in range(4):
        c[i] = ctr[i]
    for i in range(2):
        k[i] = key[i]
    dpa_philox4x32_10(c, k, o)
    return [o[i] for i in range(4)]


def sha256_compress_loop(Py_ssize_t nblocks, int paths):
    """Run ``nblocks`` dependent SHA-256 compressions (benchmark helper).

    Returns the final state, so the work cannot be optimised away.
    """
    cdef uint32_t state[8]
    cdef unsigned char block[64]
    cdef Py_ssize_t i
    cdef int k
    for k in range(8):
        state[k] = 0x6a09e667u + k
    for k in range(64):
        block[k] = k
    with nogil:
        for i in range(nblocks):
            dpa_sha256_compress_bytes(state, block, paths)
            block[0] = <unsigned char>state[0]
    return [state[k] for k in range(8)]


# ---- pixel noise: philox-normal-v1 (src/noise_kernel.h) -------------------------
# Not a record scheme: binary32 noise, one row per sample, used by dpa.torch.
# NoiseKernel makes it a job of fill and the team like any scheme's: its plan
# holds the rows' keys and the output, and its fill function is the kernel's
# adapter to dpa_fill_fn; the record machinery above names it nowhere.

cdef extern from "src/noise_kernel.h" nogil:
    int64_t DPA_NOISE_MAX_PIXELS
    ctypedef struct dpa_noise_plan:
        uint64_t seed
        const int64_t *ids
        const uint32_t *epochs
        const double *stds
        int64_t first
        int64_t count
        float *out
    void dpa_noise_fill(uint64_t seed, const int64_t *ids, const uint32_t *epochs,
                        const double *stds, int64_t n, int64_t first, int64_t count,
                        float *out, int64_t row_stride, int paths)
    int dpa_noise_fill_items(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                             int64_t itemsize, int64_t hash_offset, int paths)
    void dpa_noise_pair(uint32_t a, uint32_t b, double *z)

NOISE_MAX_PIXELS = DPA_NOISE_MAX_PIXELS


cdef int _check_noise_rows(arr, int typenum, Py_ssize_t n, str what) except -1:
    """``arr`` is a C-contiguous 1-D array of ``typenum`` with ``n`` entries."""
    cdef cnp.ndarray a
    if not isinstance(arr, cnp.ndarray):
        raise ValueError(f"{what} must be a C-contiguous 1-D array with one entry per row")
    a = <cnp.ndarray>arr
    if cnp.PyArray_TYPE(a) != typenum or cnp.PyArray_NDIM(a) != 1 \
            or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_DIM(a, 0) != n:
        raise ValueError(f"{what} must be a C-contiguous 1-D array with one entry per row")
    return 0


cdef class NoiseKernel(Kernel):
    """A plan of ``philox-normal-v1`` noise for :func:`fill` (``src/noise_kernel.h``).

    Its items are the values of ``out`` flattened: item ``k`` is pixel
    ``first + k % count`` of row ``k // count``, row ``i`` keyed by ``seed``,
    ``epochs[i]`` and ``ids[i]`` and scaled by ``stds[i]``.  Fill
    ``kernel.out`` (the 1-D view of ``out``), ids None, hash offset -1; the
    items depend only on the plan, never on the parts or pieces.  Holds the
    arrays until it is gone.  The values are the caller's to validate
    (``dpa.torch.noise``); this checks what would otherwise corrupt memory.

    Parameters
    ----------
    seed : int
        ``0 <= seed < 2**64``.
    ids, epochs, stds : ndarray
        C-contiguous int64, uint32 and float64, one entry per row of ``out``.
    out : ndarray
        A writeable C-contiguous ``(rows, count)`` float32 array.
    first : int
        The pixel of column 0; ``first + count <= NOISE_MAX_PIXELS``.
    """

    cdef dpa_noise_plan _plan
    cdef object _ids, _epochs, _stds

    def __cinit__(self, uint64_t seed, ids, epochs, stds, cnp.ndarray out, int64_t first):
        if cnp.PyArray_TYPE(out) != cnp.NPY_FLOAT32 or cnp.PyArray_NDIM(out) != 2 \
                or not cnp.PyArray_IS_C_CONTIGUOUS(out) or not cnp.PyArray_ISWRITEABLE(out):
            raise ValueError("out must be a writeable C-contiguous 2-D float32 array")
        cdef Py_ssize_t n = cnp.PyArray_DIM(out, 0)
        cdef int64_t count = cnp.PyArray_DIM(out, 1)
        _check_noise_rows(ids, cnp.NPY_INT64, n, "ids")
        _check_noise_rows(epochs, cnp.NPY_UINT32, n, "epochs")
        _check_noise_rows(stds, cnp.NPY_FLOAT64, n, "stds")
        if first < 0 or first + count > DPA_NOISE_MAX_PIXELS:
            raise ValueError("pixels must lie in [0, 2**33)")
        self._ids, self._epochs, self._stds = ids, epochs, stds
        self._plan.seed = seed
        self._plan.ids = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>ids)
        self._plan.epochs = <const uint32_t *>cnp.PyArray_DATA(<cnp.ndarray>epochs)
        self._plan.stds = <const double *>cnp.PyArray_DATA(<cnp.ndarray>stds)
        self._plan.first = first
        self._plan.count = count
        self.out = out.reshape(-1)  # a view: out is C-contiguous
        self._plan.out = <float *>cnp.PyArray_DATA(<cnp.ndarray>self.out)
        self.fill = dpa_noise_fill_items
        self.plan = &self._plan
        self.record_size = 4
        self.hash_size = 0
        self.scheme = "philox-normal-v1"


def noise_fill(uint64_t seed, const int64_t[::1] ids, const uint32_t[::1] epochs,
               const double[::1] stds, float[:, ::1] out, int64_t first, int paths):
    """Fill ``out[i, k]`` with the noise of sample ``ids[i]`` at pixel ``first + k``.

    ``philox-normal-v1`` (``src/noise_kernel.h``): row ``i`` is keyed by
    ``seed``, ``epochs[i]`` and ``ids[i]``, scaled by ``stds[i]``.  One call
    of the kernel over all of ``out`` in this thread with the GIL released,
    never looking at signals: a test hook (the known answers), and the
    reference the tests hold fills of a :class:`NoiseKernel` to (what
    ``dpa.torch`` runs, on the team).  This checks only what would
    otherwise corrupt memory.
    """
    cdef Py_ssize_t n = out.shape[0]
    cdef int64_t count = out.shape[1]
    if ids.shape[0] != n or epochs.shape[0] != n or stds.shape[0] != n:
        raise ValueError("ids, epochs and stds must have one entry per row of out")
    if first < 0 or first + count > DPA_NOISE_MAX_PIXELS:
        raise ValueError("pixels must lie in [0, 2**33)")
    if n == 0 or count == 0:
        return
    with nogil:
        dpa_noise_fill(seed, &ids[0], &epochs[0], &stds[0], n, first, count, &out[0, 0],
                       out.shape[1], paths)


def noise_pair(uint32_t a, uint32_t b):
    """The Box-Muller step of ``philox-normal-v1`` on two words (test hook)."""
    cdef double z[2]
    dpa_noise_pair(a, b, z)
    return (z[0], z[1])


include "_gather.pxi"
include "_pool.pxi"
include "_shuffle.pxi"
include "_stats.pxi"
include "_json.pxi"
