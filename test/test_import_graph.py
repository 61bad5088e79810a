"""The import graph of wham_ros/: every arrow points down, no circle (lazy imports included).

The graph is read from the source with ``ast``: every ``import`` and ``from … import`` of a
``wham_ros`` module anywhere in a file (module level, inside functions, under ``if``/``try``)
is an arrow from that file to the module it names, and so is
``importlib.import_module("wham_ros.…")`` with a literal name. ``from pkg import name`` points at
``pkg.name`` when that is a module, else at ``pkg`` (its ``__init__``). A room is the first
name under ``wham_ros`` (a sub-package, or a top-level module such as ``pipeline``).
"""
import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

PACKAGE = Path(__file__).resolve().parents[1] / "wham_ros"
ARCHITECTURE_PAGE = PACKAGE.parent / "doc" / "architecture.md"

# The rooms from the bottom up: a room may import only rooms listed before it (and itself).
# doc/architecture.md documents the same order (checked below).
ROOM_ORDER = [
    "types",             # plain data passed between stages (FrameResult, HumanEstimate, …)
    "image_conversion",  # ROS image encodings <-> numpy (cv_bridge's semantics, no ROS)
    "ort_session",       # ONNX Runtime sessions, providers, ModelFileError
    "geometry",          # rotations, camera, IMU integration, frames, grounding
    "depth",             # depth images: decoding, pairing by stamp, a person's depth, placement
    "assets",            # reading model files safely (safe_load) and checksums
    "body",              # SMPL body model, its converter and error type, REP-155 kinematics
    "detect",            # person detector (ONNX), boxes, letterbox, NMS
    "frontend",          # crops, WHAM's front-end inputs, mediapipe keypoints
    "tracking",          # multi-person tracker, filters
    "vit",               # ViT backbone and its checkpoint reader (shared by ViTPose, HMR2.0)
    "vitpose",           # ViTPose: model, loader, ONNX backend, heatmap decoding
    "hmr2",              # HMR2.0 encoder: model, loader, ONNX backend
    "wham",              # the WHAM network, checkpoint loading, streaming state
    "export",            # tracks / BVH export of results
    "render",            # drawing results (overlay, world view, video)
    "pipeline",          # frames (+ IMU) -> humans: where the stages meet
    "models",            # above the loaders: registry, fetch, doctor checks, ONNX export
    "bag",               # rosbag2 files: message typestore, input/output bags, calibration
    "ros",               # nodes and message conversions (the only room with rclpy)
    "offline",           # the offline runner: a bag or video through the pipeline into a bag
    "testing",           # synthetic models, scenes and recordings for tests and the demo
    "cli",               # `wham-ros <verb>`: argparse over the rooms below
]


def module_files() -> Dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under wham_ros/."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("wham_ros",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported_names(module: str, path: Path) -> List[str]:
    """Every dotted name ``module`` imports (candidates: a name may be a module or an attribute)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names += [f"{source}.{alias.name}" for alias in node.names] + [source]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"):
            names.append(node.args[0].value)  # importlib.import_module("wham_ros.…")
    return [n for n in names if n == "wham_ros" or n.startswith("wham_ros.")]


def import_graph() -> Dict[str, Set[str]]:
    """module -> the wham_ros modules it imports (the package root excluded)."""
    files = module_files()
    graph: Dict[str, Set[str]] = {m: set() for m in files}
    for module, path in files.items():
        tree_names = imported_names(module, path)
        from_names = set()
        for name in tree_names:
            # ``from a.b import c``: a.b.c when that is a module, else a.b (listed too).
            if name in files:
                from_names.add(name)
            else:
                parent = name.rpartition(".")[0]
                while parent and parent not in files:
                    parent = parent.rpartition(".")[0]
                if parent:
                    from_names.add(parent)
        graph[module] = {m for m in from_names if m not in (module, "wham_ros")}
    return graph


def room(module: str) -> str:
    return module.split(".")[1]


def upward_arrows(graph: Dict[str, Set[str]]) -> List[Tuple[str, str]]:
    rank = {r: i for i, r in enumerate(ROOM_ORDER)}
    return sorted((a, b) for a, targets in graph.items() if a != "wham_ros" for b in targets
                  if rank[room(b)] > rank[room(a)])


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one file (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_room_is_in_the_order():
    rooms = {room(m) for m in module_files() if m != "wham_ros"}
    assert rooms - set(ROOM_ORDER) == set(), "place the new room in ROOM_ORDER"
    assert set(ROOM_ORDER) - rooms == set(), "a room in ROOM_ORDER no longer exists"


def test_the_documented_order_is_this_order():
    rooms = []
    for line in ARCHITECTURE_PAGE.read_text().splitlines():
        if line.startswith("| `wham_ros/"):
            cell = line.split("|")[1]
            rooms += [Path(p).stem for p in re.findall(r"`wham_ros/([\w./]+?)/?`", cell)]
    assert rooms == ROOM_ORDER


def test_every_import_points_down():
    graph = import_graph()
    assert graph["wham_ros"] == set()  # the package root (extend_path only) imports no room
    assert upward_arrows(graph) == []


def test_no_import_circle_between_files():
    assert cycles(import_graph()) == []


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    """The reader itself: an import inside a function and a relative one are arrows."""
    graph = import_graph()
    # offline/runner.py imports the renderer inside a function: that arrow must be there.
    assert "wham_ros.render.video" in graph["wham_ros.offline.runner"]
    assert "wham_ros.body.convert" in graph["wham_ros.body.smpl"]
    rel = tmp_path / "x.py"
    rel.write_text("def f():\n    from ..body import smpl\n    from . import doctor\n"
                   "    importlib.import_module('wham_ros.geometry.so3')\n")
    names = imported_names("wham_ros.models.x", rel)
    assert {"wham_ros.body.smpl", "wham_ros.models.doctor", "wham_ros.geometry.so3"} <= set(names)
    up = upward_arrows({"wham_ros.body.smpl": {"wham_ros.cli.demo"}, "wham_ros.cli.demo": set()})
    assert up == [("wham_ros.body.smpl", "wham_ros.cli.demo")]
    assert cycles({"a.x.p": {"a.y.q"}, "a.y.q": {"a.x.p"}}) == [["a.x.p", "a.y.q"]]
