"""wham_ros: live, world-grounded 3D humans (WHAM) for ROS 2.

This file stays import-free: under a ROS install the rosidl-generated ``wham_ros.msg``
package lands beside this one, so the namespace is extended instead of shadowed.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
