"""AugmentationConfig, presets and the DPA-named scalar functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dpa


def test_defaults_and_presets_are_dpa_s():
    c = dpa.AugmentationConfig()
    assert c.ranges == ((-30, 30), (0.8, 1.2), (0, 0.1), (0.8, 1.2), (0.7, 1.3))
    assert c.augmentation_depth == 10
    assert dpa.get_preset("moderate") == c
    assert dpa.get_preset("mild").rotation_range == (-15, 15)
    assert dpa.get_preset("aggressive").contrast_range == (0.6, 1.4)
    assert sorted(dpa.PRESETS) == ["aggressive", "mild", "moderate"]


def test_unknown_preset_lists_known():
    with pytest.raises(ValueError, match=r"Unknown preset 'wild'.*aggressive.*mild.*moderate"):
        dpa.get_preset("wild")


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"rotation_range": (5, 5)}, ValueError, r"rotation_range should have low < high, but got rotation_range=\(5, 5\)"),
        ({"noise_range": (1, 0)}, ValueError, "noise_range should have low < high"),
        ({"scale_range": (0, math.inf)}, ValueError, r"scale_range\[1\] should be a finite real number"),
        ({"scale_range": (math.nan, 1)}, ValueError, r"scale_range\[0\] should be a finite real number"),
        ({"brightness_range": ("0", 1)}, TypeError, r"brightness_range\[0\] should be a finite real number"),
        ({"brightness_range": (True, 2)}, TypeError, r"brightness_range\[0\]"),
        ({"contrast_range": 3}, TypeError, "contrast_range should be a \\(low, high\\) pair"),
        ({"contrast_range": (1, 2, 3)}, ValueError, "contrast_range should be a \\(low, high\\) pair"),
        ({"rotation_range": (-1e308, 1e308)}, ValueError, "too wide"),
        ({"augmentation_depth": 0}, ValueError, "augmentation_depth should be an integer >= 1, but got augmentation_depth=0"),
        ({"augmentation_depth": 2.0}, TypeError, "augmentation_depth should be an integer"),
        ({"augmentation_depth": True}, TypeError, "augmentation_depth should be an integer"),
    ],
)
def test_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dpa.AugmentationConfig(**kwargs)


def test_numpy_scalars_and_lists_accepted():
    c = dpa.AugmentationConfig(rotation_range=[np.int64(-3), np.float64(2.5)], augmentation_depth=np.int32(4))
    assert c.rotation_range == (-3, 2.5)
    assert type(c.rotation_range[0]) is int and c.augmentation_depth == 4


def test_from_dict_round_trip_and_unknown_field():
    c = dpa.get_preset("aggressive")
    assert dpa.AugmentationConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown config field"):
        dpa.AugmentationConfig.from_dict({"rotaton_range": (0, 1)})


def test_int_ranges_use_python_arithmetic():
    """uniform(a, b) with huge ints: b - a is exact before rounding, as in Python."""
    c = dpa.AugmentationConfig(rotation_range=(-(2**60) - 1, 2**60))
    import random

    h = dpa.gen_augmentation_seed(17, 10)
    rng = random.Random(int(h, 16) % 2**32)
    assert dpa.gen_augmentation_params(17, c)["rotation"] == rng.uniform(-(2**60) - 1, 2**60)


def test_fib():
    assert [dpa.fib(i) for i in range(10)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    assert dpa.fib(300) == 222232244629420445529739893461909967206666939096499764990979600
    with pytest.raises(ValueError, match="non-negative"):
        dpa.fib(-1)
    with pytest.raises(TypeError):
        dpa.fib(2.0)


def test_depth_beyond_python_int_str_limit_is_a_clear_error():
    import sys

    if not hasattr(sys, "get_int_max_str_digits") or sys.get_int_max_str_digits() == 0:
        pytest.skip("this Python has no int string limit")
    with pytest.raises(ValueError, match="get_int_max_str_digits"):
        dpa.generate(range(1), dpa.AugmentationConfig(augmentation_depth=21_000))


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (2**63, ValueError), (1.0, TypeError), (True, TypeError)])
def test_scalar_api_bad_ids(bad, exc):
    with pytest.raises(exc, match="seed_id"):
        dpa.gen_augmentation_params(bad)
    with pytest.raises(exc, match="seed_id"):
        dpa.gen_augmentation_seed(bad)
