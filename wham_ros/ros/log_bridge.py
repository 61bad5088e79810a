"""Route the ROS-free core's ``logging`` records into a node's logger (stderr and /rosout).

The core (``wham_ros.pipeline``, ``wham_ros.geometry``, model loaders, ...) logs with
``logging.getLogger(__name__)`` and knows nothing of ROS. A node installs a
:class:`RosLogHandler` on the ``wham_ros`` logger, so warnings such as "No gravity direction
at start" or the camera-rate warning reach ``/rosout`` with the node's name, like the node's
own lines. The handler is removed when the node shuts down.
"""
from __future__ import annotations

import logging

from rclpy.logging import LoggingSeverity

CORE_LOGGER = "wham_ros"


def _severity_to_level(severity) -> int:
    """rclpy severity -> the ``logging`` level that lets the same records through."""
    severity = LoggingSeverity(severity)
    if severity == LoggingSeverity.UNSET:
        return logging.INFO  # rcutils' default severity
    return {LoggingSeverity.DEBUG: logging.DEBUG, LoggingSeverity.INFO: logging.INFO,
            LoggingSeverity.WARN: logging.WARNING, LoggingSeverity.ERROR: logging.ERROR,
            LoggingSeverity.FATAL: logging.CRITICAL}[severity]


class RosLogHandler(logging.Handler):
    """A ``logging.Handler`` that forwards each record to an rclpy logger.

    The message is prefixed with the record's logger name (``[wham_ros.pipeline] ...``), so
    the origin stays visible in ``/rosout``.

    Args:
        ros_logger: ``node.get_logger()``.
    """

    def __init__(self, ros_logger) -> None:
        super().__init__(level=logging.DEBUG)
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"[{record.name}] {record.getMessage()}"
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            if record.levelno >= logging.CRITICAL:
                self.ros_logger.fatal(text)
            elif record.levelno >= logging.ERROR:
                self.ros_logger.error(text)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(text)
            elif record.levelno >= logging.INFO:
                self.ros_logger.info(text)
            else:
                self.ros_logger.debug(text)
        except Exception:  # a logging failure must never break the caller
            self.handleError(record)


def install(ros_logger) -> RosLogHandler:
    """Forward the core's records (``wham_ros.*``) to ``ros_logger``; returns the handler.

    The core logger's level follows the node logger's severity (INFO by default, so the
    core's INFO lines appear as the node's do). Records stop propagating to the root
    logger, so nothing is printed twice.
    """
    handler = RosLogHandler(ros_logger)
    core = logging.getLogger(CORE_LOGGER)
    core.addHandler(handler)
    core.setLevel(_severity_to_level(ros_logger.get_effective_level()))
    core.propagate = False
    return handler


def uninstall(handler: RosLogHandler) -> None:
    """Stop forwarding through ``handler`` (the core logs as before once none is left)."""
    core = logging.getLogger(CORE_LOGGER)
    core.removeHandler(handler)
    if not any(isinstance(h, RosLogHandler) for h in core.handlers):
        core.propagate = True
        core.setLevel(logging.NOTSET)
