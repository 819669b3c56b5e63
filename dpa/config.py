"""Augmentation configuration: the five parameter ranges and the chain depth.

Field names, defaults and presets are DPA 0.2.1's, so that a config written for
DPA means the same thing here.  Unlike DPA, every value is validated on
construction: ranges must be pairs of finite real numbers with ``low < high``
and ``augmentation_depth`` an integer ``>= 1``.  A value of the wrong type
raises ``TypeError`` and a wrong value ``ValueError``, naming the field and
quoting the value.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from ._validate import check_int, check_number, show

__all__ = ["DEFAULT_CONFIG", "FIELDS", "AugmentationConfig", "PRESETS", "get_preset"]

#: The five parameters, in the order DPA draws them.
FIELDS: tuple[str, ...] = ("rotation", "brightness", "noise", "scale", "contrast")


def _check_number(value: Any, name: str) -> int | float:
    """Return ``value`` as a Python int or float; TypeError or ValueError naming it."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return check_number(value, name, rule="should be a finite real number")


def _check_range(value: Any, name: str) -> tuple[int | float, int | float]:
    try:
        low, high = value
    except TypeError:
        raise TypeError(
            f"{name} should be a (low, high) pair of numbers, but got {name}={show(value)}"
        ) from None
    except ValueError:
        raise ValueError(
            f"{name} should be a (low, high) pair of numbers, but got {name}={show(value)}"
        ) from None
    low = _check_number(low, f"{name}[0]")
    high = _check_number(high, f"{name}[1]")
    pair = f"({show(low)}, {show(high)})"  # integers of any size, briefly
    if not low < high:
        raise ValueError(f"{name} should have low < high, but got {name}={pair}")
    # DPA computes ``low + (high - low) * random()`` in Python arithmetic, which
    # must stay finite as a float for the result to mean anything.
    try:
        wide = not math.isfinite(float(high - low)) or not math.isfinite(float(low))
    except OverflowError:  # integers beyond the float range
        wide = True
    if wide:
        raise ValueError(f"{name} is too wide to represent as a float: {name}={pair}")
    return (low, high)


@dataclass(frozen=True)
class AugmentationConfig:
    """Ranges of the five augmentation parameters and the hash-chain depth.

    Parameters
    ----------
    rotation_range, brightness_range, noise_range, scale_range, contrast_range
        ``(low, high)`` pairs of finite numbers with ``low < high``.  A sample's
        value is ``low + (high - low) * u`` with ``u`` in ``[0, 1)``, as
        ``random.uniform`` computes it.
    augmentation_depth
        Number of SHA-256 steps in the Fibonacci chain (integer ``>= 1``).

    Defaults are DPA 0.2.1's (the ``"moderate"`` preset).  Instances are
    immutable and hashable, so they can key caches.
    """

    rotation_range: tuple[float, float] = (-30, 30)
    brightness_range: tuple[float, float] = (0.8, 1.2)
    noise_range: tuple[float, float] = (0, 0.1)
    scale_range: tuple[float, float] = (0.8, 1.2)
    contrast_range: tuple[float, float] = (0.7, 1.3)
    augmentation_depth: int = 10

    def __post_init__(self) -> None:
        for field in FIELDS:
            name = f"{field}_range"
            object.__setattr__(self, name, _check_range(getattr(self, name), name))
        depth = check_int(self.augmentation_depth, "augmentation_depth", minimum=1,
                          rule="should be an integer >= 1")
        object.__setattr__(self, "augmentation_depth", depth)

    @property
    def ranges(self) -> tuple[tuple[int | float, int | float], ...]:
        """The five ``(low, high)`` pairs in field order."""
        return tuple(getattr(self, f"{field}_range") for field in FIELDS)

    def lows_and_spans(self) -> tuple[list[float], list[float]]:
        """``float(low)`` and ``float(high - low)`` per field, as DPA computes them.

        ``random.uniform(a, b)`` is ``a + (b - a) * random()`` in Python
        arithmetic: ``b - a`` is exact for two ints and rounded once to a float,
        so the kernel gets exactly the operands Python would use.
        """
        lows = [float(low) for low, _ in self.ranges]
        spans = [float(high - low) for low, high in self.ranges]
        return lows, spans

    def to_dict(self) -> dict[str, Any]:
        """The config as DPA's ``asdict`` writes it (ranges as lists in JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentationConfig:
        """Build a config from a mapping such as DPA's ``metadata.config``."""
        if not isinstance(data, dict):
            raise TypeError(f"config should be a mapping, but got {type(data).__name__}")
        known = {f"{f}_range" for f in FIELDS} | {"augmentation_depth"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; known: {sorted(known)}")
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**kwargs)


#: DPA's defaults (the ``"moderate"`` preset): the config of every call that
#: omits one, built once.
DEFAULT_CONFIG = AugmentationConfig()

PRESETS: dict[str, AugmentationConfig] = {
    "mild": AugmentationConfig(
        rotation_range=(-15, 15),
        brightness_range=(0.9, 1.1),
        noise_range=(0, 0.05),
        scale_range=(0.9, 1.1),
        contrast_range=(0.85, 1.15),
    ),
    "moderate": DEFAULT_CONFIG,
    "aggressive": AugmentationConfig(
        rotation_range=(-45, 45),
        brightness_range=(0.7, 1.3),
        noise_range=(0, 0.15),
        scale_range=(0.7, 1.3),
        contrast_range=(0.6, 1.4),
    ),
}


def get_preset(name: str) -> AugmentationConfig:
    """Return the preset config called ``name`` (``mild``, ``moderate``, ``aggressive``)."""
    if not isinstance(name, str):
        raise TypeError(f"name should be a preset name such as 'mild', but got name={show(name)}")
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown preset {name!r}. Available: {sorted(PRESETS)}") from None
