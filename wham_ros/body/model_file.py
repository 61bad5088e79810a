"""What an SMPL model file must hold, and the body-model loaders' error type.

Below both :mod:`~wham_ros.body.smpl` (reads the ``.npz`` / ``.pkl``) and
:mod:`~wham_ros.body.convert` (``.pkl`` -> ``.npz``), which check and raise with them.
"""

# Array name -> shape (None: any size) of an SMPL model file (neutral, MPI's layout).
SMPL_ARRAY_SHAPES = {
    "v_template": (6890, 3), "shapedirs": (6890, 3, None), "posedirs": (6890, 3, 207),
    "J_regressor": (24, 6890), "weights": (6890, 24), "kintree_table": (2, 24), "f": (None, 3),
}


class BodyModelError(RuntimeError):
    """A body-model file is missing, unreadable or has the wrong content."""
