"""``wham-ros demo``: the offline runner end to end without any licensed model file.

Writes a synthetic model set (name-seeded WHAM weights in the official checkpoint layout, a
synthetic SMPL-format body model, a tiny ONNX detector / ViTPose / HMR2.0 with the real
inputs and outputs), a synthetic MCAP recording as a robot makes it (people walking, a camera
at rest that then pans, 200 Hz IMU, the IMU's mounting on /tf_static), runs ``wham-ros run
--render`` on it and prints what the output bag holds. It writes ``render.mp4`` (the overlay
beside the world view) and ``picture.png``, one frame of it (the README's picture,
``tools/make_readme_picture.sh``). The humans are not meaningful (random weights); the point
is to see the whole product run and to have a bag to open in Foxglove / RViz. With real model
files: ``wham-ros models fetch``, then ``wham-ros run`` (doc/models.md).
"""
import argparse
import sys
from collections import Counter
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="wham-ros demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", help="folder for models/, recording/, wham.yaml, output/, "
                                       "render.mp4 and picture.png")
    parser.add_argument("--frames", type=int, default=60, help="camera frames (30 fps)")
    parser.add_argument("--people", type=int, default=2, choices=range(5), metavar="0-4",
                        help="people in the scene")
    args = parser.parse_args(argv)
    import yaml
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin

    from wham_ros.testing.scene_bag import write_scene_bag
    from wham_ros.bag.typestore import make_typestore
    from wham_ros.offline.runner import main as run_main
    from wham_ros.render.video import write_still
    from wham_ros.testing.scenes import make_scene
    from wham_ros.testing.synthetic_models import make_synthetic_model_dir

    out = Path(args.outdir)
    if (out / "output").exists() or (out / "recording").exists():
        print(f"error: {out}/recording or {out}/output exists; choose a new folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    print(f"writing synthetic models to {out / 'models'}")
    models = make_synthetic_model_dir(str(out / "models"))
    config = out / "wham.yaml"
    config.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(  # every node name
        models, keypoint_backend="vitpose", detector_format="yolov8", providers="cpu",
        tracker_min_hits=2, mesh_rate_hz=2.0)}}))
    scene = make_scene(args.frames, people=args.people, pan_rate_rad_s=0.3,
                       rest_before_start=True)
    write_scene_bag(out / "recording", make_typestore(), StoragePlugin.MCAP, scene,
                    "camera_optical_frame", tf_static=True)
    print(f"wrote recording {out / 'recording'} ({args.frames} frames, {args.people} people)")
    rc = run_main([str(out / "recording"), "-o", str(out / "output"), "--config", str(config),
                   "--render", str(out / "render.mp4")])
    if rc != 0:
        return rc
    if write_still(out / "render.mp4", out / "picture.png"):
        print(f"wrote {out / 'render.mp4'} and {out / 'picture.png'}")
    with AnyReader([out / "output"]) as reader:
        counts = Counter(c.topic for c, _, _ in reader.messages())
    print(f"output bag {out / 'output'}:")
    for topic, n in sorted(counts.items()):
        print(f"  {topic:32s} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
