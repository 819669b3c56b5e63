"""Checks of arguments at the Python edge: one checker per kind of value.

Every public function of dpa checks its arguments here before any work, so
that the compiled kernels can assume valid input.  Each checker returns the
value in its canonical form (a Python ``int``, ``bool``, ``float``, ``str`` or
``Path``) or raises:

* ``TypeError`` when the value is of the wrong type (a ``bool`` or ``float``
  where an integer is meant, a string where a path is meant, ...);
* ``ValueError`` when it has the right type but a wrong value (out of range,
  not one of the choices).

Messages name the argument and quote the value, in one pattern::

    batch_size should be a positive integer, but got batch_size=0

The wording of the rule (``should be a positive integer``) follows from the
constraint.  Functions that keep DPA 0.2.1's signatures pass DPA's own wording
(``rule="must be non-negative"``), since code written for DPA matches on it;
the rest of the message is the same.  Modules whose errors are DPA's classes
(``InvalidBatchConfigError``, ``InvalidRankError``) pass them as ``errors``:
a pair ``(for a wrong type, for a wrong value)``, the first also a
``TypeError`` and the second a ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_SAMPLE_ID",
    "Errors",
    "check_bool",
    "check_choice",
    "check_env_int",
    "check_id_range",
    "check_ids",
    "check_instance",
    "check_int",
    "check_non_negative_int",
    "check_number",
    "check_out",
    "check_path",
    "check_positive_int",
    "check_range_length",
    "check_sample_id",
    "show",
]

#: Largest sample id: ids are non-negative int64.
MAX_SAMPLE_ID = 2**63 - 1

#: ``(class for a wrong type, class for a wrong value)``.
Errors = tuple[type[Exception], type[Exception]]

_STANDARD: Errors = (TypeError, ValueError)


def show(value: Any) -> str:
    """``repr(value)`` for a message, kept short: integers beyond 2**256 are
    described by their size (their decimal form may exceed what Python
    converts), long reprs are cut."""
    if _is_int(value) and abs(int(value)).bit_length() > 256:
        sign = "-" if value < 0 else ""
        return f"{sign}<an integer of {abs(int(value)).bit_length()} bits>"
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + "..." + text[-12:]


def _fail(kind: type[Exception], name: str, rule: str, value: Any) -> Exception:
    return kind(f"{name} {rule}, but got {name}={show(value)}")


def _is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a bool (``numpy.bool_`` is no Integral)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_rule(minimum: int | None, maximum: int | None) -> str:
    if maximum is None:
        if minimum is None:
            return "should be an integer"
        if minimum == 0:
            return "should be a non-negative integer"
        if minimum == 1:
            return "should be a positive integer"
        return f"should be an integer >= {minimum}"
    if minimum is None:
        return f"should be an integer <= {maximum}"
    if maximum == MAX_SAMPLE_ID:
        return f"should be an integer in [{minimum}, 2**63-1]"
    if maximum == 2**64 - 1:
        return f"should be an integer in [{minimum}, 2**64)"
    if maximum == 2**32 - 1:
        return f"should be an integer in [{minimum}, 2**32)"
    return f"should be an integer in [{minimum}, {maximum}]"


def check_int(value: Any, name: str, *, minimum: int | None = None,
              maximum: int | None = None, rule: str | None = None,
              errors: Errors = _STANDARD) -> int:
    """check_int(value, name, *, minimum=None, maximum=None, rule=None, errors=(TypeError, ValueError))

    ``value`` as a Python ``int`` in ``[minimum, maximum]`` (either bound
    optional).  Python and NumPy integers are accepted; ``bool``, floats
    (even ``2.0``) and strings are a ``TypeError``.  ``rule`` replaces the
    wording of the range rule in the message of a value out of range
    (``"must be non-negative"``).
    """
    if not _is_int(value):
        raise _fail(errors[0], name, "should be an integer", value)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(errors[1], name, rule or _int_rule(minimum, maximum), value)
    return value


def check_non_negative_int(value: Any, name: str, *, rule: str | None = None,
                           errors: Errors = _STANDARD) -> int:
    """``check_int(value, name, minimum=0)``."""
    return check_int(value, name, minimum=0, rule=rule, errors=errors)


def check_positive_int(value: Any, name: str, *, rule: str | None = None,
                       errors: Errors = _STANDARD) -> int:
    """``check_int(value, name, minimum=1)``."""
    return check_int(value, name, minimum=1, rule=rule, errors=errors)


def check_sample_id(value: Any, name: str = "sample_id", *, rule: str | None = None,
                    errors: Errors = _STANDARD) -> int:
    """A sample id: an integer in ``[0, 2**63 - 1]``.

    ``rule`` words the lower bound (DPA's ``"must be non-negative"``); the
    upper bound always says ``2**63-1``.
    """
    if not _is_int(value):
        raise _fail(errors[0], name, "should be an integer", value)
    value = int(value)
    if value < 0:
        raise _fail(errors[1], name, rule or "should be a sample id in [0, 2**63-1]", value)
    if value > MAX_SAMPLE_ID:
        raise _fail(errors[1], name, "must be at most 2**63-1", value)
    return value


def check_bool(value: Any, name: str, *, errors: Errors = _STANDARD) -> bool:
    """``value`` if it is a ``bool`` (``numpy.bool_`` included); ``TypeError`` otherwise.

    ``1``, ``"yes"`` and ``None`` are not booleans.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(errors[0], name, "should be a bool", value)
    return bool(value)


def check_number(value: Any, name: str, *, minimum: float | None = None,
                 positive: bool = False, finite: bool = True, rule: str | None = None,
                 errors: Errors = _STANDARD) -> float:
    """A real number as a float: finite (unless ``finite=False``), ``> 0`` with
    ``positive``, ``>= minimum`` with ``minimum``.  Bools and strings are a
    ``TypeError``; NaN is always a ``ValueError``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _fail(errors[0], name, rule or "should be a number", value)
    try:
        x = float(value)
    except OverflowError:  # an integer beyond the float range
        x = math.inf if value > 0 else -math.inf
    ok = not math.isnan(x) and (not finite or math.isfinite(x))
    ok = ok and (not positive or x > 0) and (minimum is None or x >= minimum)
    if not ok:
        if rule is None:
            rule = ("should be a positive number" if positive else
                    "should be a non-negative number" if minimum == 0 else
                    f"should be a number >= {minimum}" if minimum is not None else
                    "should be a finite number" if finite else "should be a number")
        raise _fail(errors[1], name, rule, value)
    return x


def check_choice(value: Any, name: str, choices: Iterable[str], *,
                 errors: Errors = _STANDARD) -> str:
    """``value`` if it is one of the strings ``choices``.

    A value that is not a string is a ``TypeError``; a string that is not a
    choice a ``ValueError``.  Both messages list the choices.
    """
    choices = tuple(choices)
    rule = f"should be one of {choices}"
    if not isinstance(value, str):
        raise _fail(errors[0], name, rule, value)
    if value not in choices:
        raise _fail(errors[1], name, rule, value)
    return value


def check_instance(value: Any, name: str, cls: type | tuple[type, ...], what: str, *,
                   errors: Errors = _STANDARD) -> Any:
    """``value`` if it is an instance of ``cls`` (described as ``what``)."""
    if not isinstance(value, cls):
        raise errors[0](f"{name} should be {what}, but got {type(value).__name__}")
    return value


def check_path(value: Any, name: str = "path", *, errors: Errors = _STANDARD) -> Path:
    """A filesystem path (``str`` or ``os.PathLike``, not empty) as a ``Path``.

    ``bytes`` paths, ``None`` and other objects are a ``TypeError``; an empty
    string a ``ValueError``.
    """
    if isinstance(value, Path):
        text = str(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, os.PathLike):
        text = os.fspath(value)
        if not isinstance(text, str):
            raise _fail(errors[0], name, "should be a str or os.PathLike path", value)
    else:
        raise _fail(errors[0], name, "should be a str or os.PathLike path", value)
    if not text:
        raise _fail(errors[1], name, "should be a non-empty path", value)
    if "\x00" in text:
        raise _fail(errors[1], name, "should not contain a NUL character", value)
    return Path(text)


# ---- arrays of the engine ------------------------------------------------------


def _int_values(values: list[Any], name: str) -> np.ndarray:
    """Python integers (an object array's or a list's) as int64, checked."""
    for v in values:
        if not _is_int(v):
            what = "boolean" if isinstance(v, (bool, np.bool_)) else type(v).__name__
            raise TypeError(f"{name} should be integers, but got a {what} value {show(v)}")
    if values:
        lo, hi = min(values), max(values)
        if lo < 0:
            raise ValueError(f"sample ids must be non-negative, but got {show(lo)}")
        if hi > MAX_SAMPLE_ID:
            raise ValueError(f"sample ids must be at most 2**63-1, but got {show(hi)}")
    return np.array(values, dtype=np.int64)


def check_range_length(ids: range, name: str = "ids") -> int:
    """``len(ids)``; a range of ``2**63`` or more values (which ``len`` cannot
    give: an ``OverflowError``) is a ``ValueError`` naming ``name``."""
    try:
        return len(ids)
    except OverflowError:
        raise ValueError(f"{name} should hold at most 2**63-1 values, but got {name}={show(ids)} "
                         f"({show((ids.stop - ids.start) // ids.step)} values)") from None


def check_ids(ids: Any, name: str = "ids") -> tuple[int, range | np.ndarray]:
    """Sample ids as ``(count, range_or_int64_array)``.

    Accepted: a ``range`` (any step, never materialised), a 1-D array of
    integers (any integer dtype; an object array of Python integers too), or
    any other iterable of integers (a list, a generator), each id in
    ``[0, 2**63 - 1]``.  A scalar, ``None`` or a string is a ``TypeError``, as
    are booleans and floats; an id out of range or a 2-D array a ``ValueError``.
    """
    if isinstance(ids, range):
        if check_range_length(ids, name) == 0:
            return 0, ids
        lo, hi = min(ids[0], ids[-1]), max(ids[0], ids[-1])
        if lo < 0:
            raise ValueError(f"sample ids must be non-negative, but the range holds {lo}")
        if hi > MAX_SAMPLE_ID:
            raise ValueError(f"sample ids must be at most 2**63-1, but the range holds {hi}")
        if len(ids) == 1:
            ids = range(ids[0], ids[0] + 1)
        return len(ids), ids
    if isinstance(ids, np.ndarray):
        arr = ids
    elif isinstance(ids, (str, bytes, dict)) or not isinstance(ids, Iterable):
        raise TypeError(
            f"{name} should be a range or a 1-D array of integers (or an iterable of "
            f"integers), but got {type(ids).__name__}"
        )
    else:
        values = list(ids)
        for v in values:  # numpy would read True as 1
            if isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{name} should be integers, but got a boolean value {v!r}")
        try:
            arr = np.asarray(values)
        except (OverflowError, ValueError):  # ids beyond int64, or ragged
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
    if arr.ndim != 1:
        raise ValueError(f"{name} should be 1-D, but got an array of shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "b":
        raise TypeError(f"{name} should be integers, but got a boolean array")
    if kind == "O":
        return arr.shape[0], _int_values(arr.tolist(), name)
    if kind not in "iu":
        if arr.size == 0:
            return 0, np.empty(0, np.int64)
        raise TypeError(f"{name} should be integers, but got an array of dtype {arr.dtype}")
    if arr.size:
        if kind == "u" and arr.max() > MAX_SAMPLE_ID:
            raise ValueError(f"sample ids must be at most 2**63-1, but got {int(arr.max())}")
        if kind == "i" and arr.min() < 0:
            raise ValueError(f"sample ids must be non-negative, but got {int(arr.min())}")
    return arr.shape[0], arr.astype(np.int64, copy=False)


def check_id_range(ids: range, name: str = "ids") -> tuple[int, int, int]:
    """A ``range`` of sample ids as ``(count, first, step)``, checked as
    :func:`check_ids` checks ranges; cheap, for one-id calls.  A range of one
    id has step 1 (its own step may not fit in int64)."""
    n = check_range_length(ids, name)
    if n == 0:
        return 0, 0, 1
    first = ids.start
    if n == 1:
        if first < 0:
            raise ValueError(f"sample ids must be non-negative, but the range holds {first}")
        if first > MAX_SAMPLE_ID:
            raise ValueError(f"sample ids must be at most 2**63-1, but the range holds {first}")
        return 1, first, 1
    step = ids.step
    last = first + (n - 1) * step
    lo, hi = (first, last) if step > 0 else (last, first)
    if lo < 0:
        raise ValueError(f"sample ids must be non-negative, but the range holds {lo}")
    if hi > MAX_SAMPLE_ID:
        raise ValueError(f"sample ids must be at most 2**63-1, but the range holds {hi}")
    return n, first, step


def check_out(out: Any, n: int, dtype: np.dtype, name: str = "out") -> np.ndarray:
    """A buffer to fill: a writeable C-contiguous array of ``dtype`` and shape ``(n,)``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} should be a numpy array, but got {type(out).__name__}")
    if out.dtype != dtype:
        raise ValueError(f"{name} should have dtype {dtype}, but has {out.dtype}")
    if out.shape != (n,):
        raise ValueError(f"{name} should have shape ({n},) for {n} ids, but has shape {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} should be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} should be writeable")
    return out


def check_env_int(name: str, minimum: int | None = None, what: str = "an integer",
                  environ: Any = None) -> int | None:
    """The integer in environment variable ``name`` (of ``environ``, default
    ``os.environ``), or None if it is unset or blank; a ``ValueError`` naming
    the variable if it is not an integer of at least ``minimum``."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or (minimum is not None and value < minimum):
        raise ValueError(f"{name} should be {what}, but got {name}={raw!r}")
    return value
