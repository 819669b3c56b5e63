"""PyTorch integration (the optional ``torch`` extra): parameters, noise, transform, loaders.

Needs PyTorch: ``pip install 'dpa-augment[torch]'``.  Importing ``dpa`` never
imports torch; importing ``dpa.torch`` does.  One concern per module:

``params``
    :class:`ParamBatch`, a batch's ids, parameters and noise keys, and how
    ``default_collate`` keeps it batched; :func:`params_to_tensors`.
``noise``
    :func:`pixel_noise`: the reproducible ``philox-normal-v1`` pixel noise.
``transform``
    :func:`apply_params`: the five parameters applied to a batch of images
    (and its masks, keypoints, boxes).
``samplers``
    :class:`DistributedIndexSampler` (``DistributedSampler``'s arguments, for
    ``sampler=``), :class:`DistributedParamSampler` (batches of parameters),
    :class:`SampleKey`.
``datasets``
    :class:`ParamDataset` (map-style: items with their parameters),
    :class:`ParamBatchDataset` (the batch sampler as an ``IterableDataset``).
``state``
    Where a resumed epoch continues, at the same or another world size.

Defaults give new parameters every epoch (``scheme="philox"``,
``epoch_params=True``); ``scheme="dpa", epoch_params=False`` gives DPA 0.2.1's
fixed parameters.  See docs/torch.md.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dpa.torch needs PyTorch, which is not installed: install the extra with "
        "pip install 'dpa-augment[torch]'"
    ) from exc

from .datasets import ParamBatchDataset, ParamDataset
from .noise import NOISE_VERSION, pixel_noise
from .params import ParamBatch, ParamRow, params_to_tensors
from .samplers import DistributedIndexSampler, DistributedParamSampler, SampleKey
from .transform import apply_params

__all__ = [
    "NOISE_VERSION",
    "DistributedIndexSampler",
    "DistributedParamSampler",
    "ParamBatch",
    "ParamBatchDataset",
    "ParamDataset",
    "ParamRow",
    "SampleKey",
    "apply_params",
    "params_to_tensors",
    "pixel_noise",
]
