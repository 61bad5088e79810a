"""``wham-ros <verb>``: the one command line of wham_ros (no ROS needed).

Each verb is a module of :mod:`wham_ros.cli` (or the SMPL converter) with a ``main(argv)``;
only the chosen one is imported. ``wham-ros INPUT -o OUT`` without a verb (the form before
verbs existed) still runs ``wham-ros run INPUT -o OUT`` and says so on stderr.
"""
from __future__ import annotations

import importlib
import sys
from typing import Optional, Sequence

# verb -> (module, one-line help)
VERBS = {
    "run": ("wham_ros.offline.runner", "run the pipeline on a rosbag2 or video, write an MCAP bag"),
    "demo": ("wham_ros.cli.demo", "the runner end to end on synthetic models (no licensed files)"),
    "models": ("wham_ros.cli.models", "list, check and fetch the model files the config needs"),
    "doctor": ("wham_ros.cli.doctor", "what will run here and what will not, with fixes"),
    "export": ("wham_ros.models.export_onnx", "export ViTPose-H / HMR2.0 to ONNX from checkpoints"),
    "convert-smpl": ("wham_ros.body.convert", "convert an SMPL pickle to SMPL_NEUTRAL.npz"),
}


def usage() -> str:
    lines = ["usage: wham-ros <verb> [options]   (wham-ros <verb> --help for a verb's options)",
             "", "Live, world-grounded 3D humans (WHAM) for ROS 2: the offline tools.", "",
             "verbs:"]
    lines += [f"  {verb:<13} {text}" for verb, (_, text) in VERBS.items()]
    lines += ["", "The live node: ros2 launch wham_ros wham.launch.py (doc/ros_node.md)."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Dispatch ``argv`` (default: ``sys.argv[1:]``) to a verb; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        if verb.startswith("-"):
            print(f"wham-ros: unknown option '{verb}'\n\n{usage()}", file=sys.stderr)
            return 2
        print(f"wham-ros: '{verb}' is not a verb; running 'wham-ros run {verb} ...' (write "
              "'wham-ros run' in scripts: the form without a verb is kept for old commands)",
              file=sys.stderr)
        verb, rest = "run", args
    module = importlib.import_module(VERBS[verb][0])
    try:
        return int(module.main(rest) or 0)
    except SystemExit as exc:  # argparse errors and --help exit through SystemExit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
