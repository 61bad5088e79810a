"""``wham-ros models {list,check,fetch}``: the model files the configured pipeline needs.

Examples::

    wham-ros models list                      # where each file is expected, licence, source
    wham-ros models check --config my.yaml    # present / missing, size, sha256; exit 1 if any missing
    wham-ros models fetch --smpl ~/Downloads/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl

Files named in the config (``--config``, the node's parameter YAML) are used where they are;
empty parameters mean the model cache (``--dir``, else ``$WHAM_ROS_MODELS``, else
``~/.cache/wham_ros``). ``fetch`` downloads what has a public location, converts your SMPL
file (its download needs your own registration) and exports the ONNX models, then checks.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional, Sequence

from wham_ros.models.registry import CACHE_ENV, SOURCES, FileStatus, ModelSet

LOG = logging.getLogger(__name__)


def _size(n: Optional[int]) -> str:
    """Bytes as text in decimal units ('-' for a missing file)."""
    if n is None:
        return "-"
    if n < 1000:
        return f"{n} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000.0
        if n < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"


def format_status(models: ModelSet, statuses: List[FileStatus], show_source: bool) -> str:
    """The table of ``list`` / ``check`` / ``doctor``: one entry per file, fix under each problem."""
    lines = [f"model cache: {models.cache_dir}  (--dir DIR or ${CACHE_ENV})"]
    width = max((len(s.file.key) for s in statuses), default=0)
    for s in statuses:
        f = s.file
        state = "ok" if s.ok else s.problem.upper()
        lines.append(f"  {f.key:<{width}}  {state:<9} {_size(s.size):>9}  {f.path}")
        pad = " " * (width + 4)
        if s.sha256:
            lines.append(f"{pad}sha256 {s.sha256}")
        lines.append(f"{pad}licence: {f.licence}")
        if show_source:
            src = SOURCES.get(f.source) if f.source else None
            where = f"{f.origin}" + (f" <- {src.url}" if src is not None else "")
            lines.append(f"{pad}from: {where}")
        if not s.ok:
            lines.append(f"{pad}fix: {s.fix}")
    bad = [s for s in statuses if not s.ok]
    lines.append(f"{len(statuses) - len(bad)} of {len(statuses)} file(s) present and usable"
                 + (f"; {len(bad)} to fix (commands above)" if bad else ""))
    return "\n".join(lines)


def model_set(config: Optional[str], cache_dir: Optional[str]) -> ModelSet:
    """The :class:`ModelSet` of a node parameter YAML (None: the defaults) and cache dir.

    Raises:
        wham_ros.ros.params.ParameterError, OSError: unreadable or invalid config.
    """
    from wham_ros.offline.runner import load_parameters

    args = (["--config", config] if config else []) + (["--dir", cache_dir] if cache_dir else [])
    return ModelSet(load_parameters(config, {}), cache_dir, args)


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``wham-ros models``."""
    p = argparse.ArgumentParser(prog="wham-ros models", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="node parameter YAML (config/wham.yaml format)")
    common.add_argument("--dir", help=f"model cache directory (default: ${CACHE_ENV} or "
                                      "~/.cache/wham_ros)")
    sub = p.add_subparsers(dest="action", required=True, metavar="{list,check,fetch}")
    sub.add_parser("list", parents=[common], help="where each file is expected, licence, source")
    sub.add_parser("check", parents=[common],
                   help="present/missing, size, sha256; exit 1 while anything is missing")
    f = sub.add_parser("fetch", parents=[common],
                       help="download, convert and export every missing file, then check")
    f.add_argument("--smpl", help="your SMPL pickle (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl "
                                  "from https://smplify.is.tue.mpg.de), converted to SMPL_NEUTRAL.npz")
    f.add_argument("--timeout", type=float, default=30.0, help="network timeout per read, s")
    f.add_argument("--retries", type=int, default=3, help="retries per download")
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``wham-ros models``; 0 when every file is present and usable."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from wham_ros.ros.params import ParameterError

    try:
        models = model_set(args.config, args.dir)
    except (ParameterError, OSError) as exc:
        LOG.error("%s", exc)
        return 2
    if args.action == "fetch":
        from wham_ros.models.fetch import fetch_models

        report = fetch_models(models, smpl=args.smpl, timeout_s=args.timeout,
                              retries=args.retries, progress=not args.no_progress)
        for what in report.made:
            print(f"made {what}")
        for what in report.failed:
            print(f"NOT made {what}")
    statuses = models.status(hash_files=args.action != "list")
    print(format_status(models, statuses, show_source=args.action == "list"))
    if args.action == "list":
        return 0
    return 0 if all(s.ok for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
