"""Model files above the loaders: the registry of what a configuration needs, fetch, the
doctor's checks and the ONNX export of the front-end models (the CLI, fetch and the tests
all call it). Reading one file safely and checksums stay below, in :mod:`wham_ros.assets`."""
