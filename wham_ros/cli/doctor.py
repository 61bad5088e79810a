"""``wham-ros doctor``: one screen saying what will run here and what will not, and the fixes.

The checks are :mod:`wham_ros.models.doctor`'s. Exit 0 when the configured pipeline can start
(the offline runner: ``wham-ros run``); the live node also needs rclpy and the generated
messages, whose absence is reported as a warning, not an error.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from wham_ros.models.doctor import FAIL, diagnose, format_findings


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``wham-ros doctor``; 0 when the configured pipeline can start."""
    p = argparse.ArgumentParser(prog="wham-ros doctor", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="node parameter YAML (config/wham.yaml format)")
    p.add_argument("--dir", help="model cache directory (default: $WHAM_ROS_MODELS or "
                                 "~/.cache/wham_ros)")
    args = p.parse_args(argv)
    from wham_ros.offline.runner import load_parameters
    from wham_ros.ros.params import ParameterError

    try:
        values = load_parameters(args.config, {})
    except (ParameterError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command_args = ((["--config", args.config] if args.config else [])
                    + (["--dir", args.dir] if args.dir else []))
    findings = diagnose(values, args.dir, command_args)
    print(format_findings(findings))
    return 1 if any(f.level == FAIL for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
