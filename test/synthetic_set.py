"""One synthetic model set per test session, shared by every test that needs one."""
from __future__ import annotations

import json
from pathlib import Path


def synthetic_model_set(tmp_path_factory) -> Path:
    """Directory with the synthetic models and ``paths.json`` (PipelineConfig field -> path)."""
    from wham_ros.testing.synthetic_models import make_synthetic_model_dir

    root = tmp_path_factory.getbasetemp() / "synthetic_models"
    index = root / "paths.json"
    if not index.exists():
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(json.dumps(make_synthetic_model_dir(str(root))))
    return index


def load_paths(index: Path) -> dict:
    """PipelineConfig field name -> path of the set written by :func:`synthetic_model_set`."""
    return json.loads(Path(index).read_text())
