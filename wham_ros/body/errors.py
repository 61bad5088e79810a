"""The body-model loaders' error type (below both :mod:`~wham_ros.body.smpl` and
:mod:`~wham_ros.body.convert`, which raise it)."""


class BodyModelError(RuntimeError):
    """A body-model file is missing, unreadable or has the wrong content."""
