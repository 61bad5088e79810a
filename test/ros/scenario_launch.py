"""Run launch/wham.launch.py with the real launch API; print ``RESULT {json}``.

    python scenario_launch.py PARAMS_YAML [name:=value ...]

Starts the launch description in a LaunchService (as ``ros2 launch`` does), waits until
every WHAM node logs ``activated``, then shuts the launch down as Ctrl-C would and checks
that no process it started is left running. Run it inside a loopback-only namespace.
"""
import asyncio
import os
import sys
import time
from pathlib import Path

import launch
from launch.event_handlers import OnProcessIO
from launch.actions import IncludeLaunchDescription, RegisterEventHandler
from launch.launch_description_sources import PythonLaunchDescriptionSource
from netns import print_result

ROOT = Path(__file__).resolve().parents[2]


def child_environment() -> None:
    """What a sourced install gives ``ros2 launch``: ``python3`` with rclpy first on PATH,
    the checkout's wham_ros and its generated messages on PYTHONPATH (tools/ros_env.sh)."""
    import ros_env

    paths = [str(ROOT)] + ([str(ros_env.site_packages())] if ros_env.site_packages() else [])
    os.environ["PYTHONPATH"] = os.pathsep.join(
        paths + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])


def children_of(pid: int):
    """PIDs of all live descendants of ``pid`` (from /proc)."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def main() -> int:
    child_environment()
    params, launch_args = sys.argv[1], [a.split(":=", 1) for a in sys.argv[2:]]
    expected = 2 if ("split", "true") in [tuple(a) for a in launch_args] else 1
    log, activated = [], []

    def on_output(event):
        text = event.text.decode(errors="replace")
        log.append(text)
        activated.extend(line for line in text.splitlines() if "activated;" in line)

    ld = launch.LaunchDescription([
        RegisterEventHandler(OnProcessIO(on_stdout=on_output, on_stderr=on_output)),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(ROOT / "launch" / "wham.launch.py")),
                                 launch_arguments=[("config", params), *launch_args])])
    service = launch.LaunchService()
    service.include_launch_description(ld)
    result = {"activated": 0, "started": [], "left": []}

    async def drive():
        task = asyncio.ensure_future(service.run_async())
        deadline = time.monotonic() + 90
        while len(activated) < expected and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.2)
        result["activated"] = len(activated)
        result["started"] = sorted(children_of(os.getpid()))
        pending = service.shutdown()  # what Ctrl-C does (a coroutine inside the loop)
        if pending is not None:
            await pending
        result["return_code"] = await task
        await asyncio.sleep(0.5)
        result["left"] = sorted(children_of(os.getpid()))

    asyncio.run(drive())
    result["log_tail"] = "".join(log)[-3000:]
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
