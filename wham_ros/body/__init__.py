"""SMPL body model: pure LBS functions, the module, and the pickle converter."""
from wham_ros.body.smpl import BodyModelError, BodyOutput, SMPLBody, read_body_model_dir

__all__ = ["BodyModelError", "BodyOutput", "SMPLBody", "read_body_model_dir"]
