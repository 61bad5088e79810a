"""The errors of the model-file reader (no other import of this package, so every part of
the reader can raise them)."""
import os
from typing import Union

from wham_ros.ort_session import ModelFileError

PathLike = Union[str, os.PathLike]


class ModelFileReadError(ModelFileError):
    """A model file cannot be read: missing, truncated, corrupt, too big or unsafe.

    Attributes:
        path: the file.
        reason: what is wrong, without the path (for loaders that add their own prefix).
    """

    def __init__(self, path: PathLike, reason: str):
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"'{self.path}': {reason}")


class UnsafeModelFile(ModelFileReadError):
    """A model file names a global that is neither plain data nor a known model-file class,
    or asks for something only code could do (state on a class, an object array).

    Attributes:
        global_name: ``module.name`` as written in the file (or what was asked for).
    """

    def __init__(self, path: PathLike, global_name: str, why: str = ""):
        self.global_name = global_name
        super().__init__(path, why or (
            f"refusing to load {global_name}: it is neither plain data nor a known model-file "
            "class, and loading it could run code (nothing from the file was run)"))


class Malformed(Exception):
    """Raised inside the reader for a file that breaks a rule; the public functions turn it
    into :class:`ModelFileReadError` with the path."""


class Refused(Exception):
    """Raised inside the reader for a global or an operation outside the allowlist; the
    public functions turn it into :class:`UnsafeModelFile` with the path.

    Args:
        name: the global (``module.name``) or the operation.
        why: the message when it is not a refused global.
    """

    def __init__(self, name: str, why: str = ""):
        self.name, self.why = name, why
        super().__init__(why or name)
