"""Joint names and index maps of the SMPL kinematic tree and WHAM's regressed joints."""

SMPL_JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
]
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]

# The one COCO-17 list of the package (ViTPose output order, WHAM's 2D input order).
COCO_JOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# WHAM's J_regressor_wham has 31 rows: the 17 COCO joints first, then 14 more.
NUM_WHAM_JOINTS = 31
# WHAM centres bodies on the mean of these two WHAM joints (COCO left/right hip).
WHAM_HIP_JOINTS = (COCO_JOINT_NAMES.index("left_hip"), COCO_JOINT_NAMES.index("right_hip"))

# SMPL joints WHAM's motion decoder is initialised from (hands/feet/... excluded).
WHAM_MAIN_JOINTS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
