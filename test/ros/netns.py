"""Run a command in a private network namespace with only loopback up (DDS stays local)."""
from __future__ import annotations

import shutil
import subprocess
from typing import List, Optional, Tuple

_CHECKED: Optional[Tuple[bool, str]] = None


def check() -> Tuple[bool, str]:
    """(usable, reason): can this process create a network namespace with lo up?"""
    global _CHECKED
    if _CHECKED is None:
        if shutil.which("unshare") is None or shutil.which("ip") is None:
            _CHECKED = (False, "unshare or ip (util-linux, iproute2) not installed")
        else:
            proc = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"],
                                  capture_output=True, text=True)
            _CHECKED = (proc.returncode == 0,
                        f"cannot create a loopback-only network namespace: {proc.stderr.strip()}")
    return _CHECKED


def command(argv: List[str]) -> List[str]:
    """``argv`` wrapped to run in a new network namespace after bringing ``lo`` up."""
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *argv]


def run_isolated(argv: List[str], timeout: float = 120):
    """Run a ROS child process in a loopback-only namespace; skips the test when impossible."""
    import pytest

    import ros_env

    for ok, reason in (ros_env.check(), check()):
        if not ok:
            pytest.skip(reason)
    return subprocess.run(command(argv), capture_output=True, text=True, timeout=timeout,
                          env=ros_env.subprocess_env(), cwd=str(ros_env.ROOT))


#: Prefix of the line that carries a scenario's result (JSON) on its stdout.
RESULT_PREFIX = "RESULT "


def print_result(result: dict) -> None:
    """Print a scenario's result as the line :func:`result_of` reads (in the child process)."""
    import json

    print(RESULT_PREFIX + json.dumps(result), flush=True)


def result_of(proc, what: str) -> dict:
    """The JSON after the last :data:`RESULT_PREFIX` line of a scenario's stdout (asserts it
    succeeded)."""
    import json

    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert proc.returncode == 0 and lines, \
        f"{what} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(lines[-1][len(RESULT_PREFIX):])
