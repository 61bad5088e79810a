"""Reading model files: one safe reader for every official layout, and checksums.

Every loader (body, vit, wham, …) reads through here; what a configuration needs, fetch and
the doctor sit above the loaders, in :mod:`wham_ros.models`."""
