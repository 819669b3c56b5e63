"""DPA 0.2.1's API, with DPA's module names and signatures, on dpa's engine.

``dpa.compat.dpa`` holds DPA's per-sample functions (``fib``,
``gen_augmentation_seed``, ``gen_augmentation_params``) and
``stream_augmentation_chain``.  Nothing in dpa's core imports this package:
it sits above the engine, the streams and :mod:`dpa.distributed`.
"""
