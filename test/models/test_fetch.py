"""Downloads against a real HTTP server on 127.0.0.1 serving synthetic files: success, resume,
checksum mismatch, 404, timeout, a web page instead of the file; never a partial file under the
final name. Then ``fetch_models`` end to end from that server (no network)."""
import hashlib
import io
import os
import pickle
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from wham_ros.models.fetch import DownloadError, download, extract_members, fetch_models
from wham_ros.models.registry import SOURCES, ModelSet, Source

PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Files by URL path; ``cut`` paths send half their bytes to a request without Range."""

    def __init__(self):
        self.files, self.cut, self.slow_s, self.html = {}, set(), {}, set()
        self.no_range = set()  # paths served whole whatever the Range header says
        self.requests = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                if self.path in server.no_range:
                    rng = None
                time.sleep(server.slow_s.get(self.path, 0.0))
                if self.path not in server.files:
                    self.send_error(404, "Not Found")
                    return
                data = server.files[self.path]
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                self.send_header("Content-Type", "text/html" if self.path in server.html
                                 else "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                try:
                    if self.path in server.cut and not rng:
                        self.wfile.write(data[:len(data) // 2])  # then the connection closes
                        return
                    self.wfile.write(data[start:])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def leftovers(folder):
    return sorted(os.listdir(folder))


def test_download_verifies_and_renames(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "model.bin"
    assert download(server.url + "/model.bin", str(dest), SHA, len(PAYLOAD), progress=False) == str(dest)
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["model.bin"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    dest = tmp_path / "model.bin"
    with pytest.raises(DownloadError, match="sha256 .* does not match"):
        download(server.url + "/model.bin", str(dest), "0" * 64, progress=False)
    with pytest.raises(DownloadError, match="expected 5;"):
        download(server.url + "/model.bin", str(dest), size=5, progress=False)
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    server.cut.add("/model.bin")
    dest = tmp_path / "model.bin"
    # no retry: the half is kept as .part, never under the final name
    with pytest.raises(DownloadError, match="partial file .* is kept"):
        download(server.url + "/model.bin", str(dest), SHA, retries=0, progress=False)
    assert leftovers(tmp_path) == ["model.bin.part"]
    assert (tmp_path / "model.bin.part").read_bytes() == PAYLOAD[:len(PAYLOAD) // 2]
    # the next run asks for the rest only
    download(server.url + "/model.bin", str(dest), SHA, retries=0, progress=False)
    assert dest.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["model.bin"]
    assert server.requests[-1] == ("/model.bin", f"bytes={len(PAYLOAD) // 2}-")


def test_retry_resumes_within_one_call(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    server.cut.add("/model.bin")
    dest = tmp_path / "model.bin"
    download(server.url + "/model.bin", str(dest), SHA, retries=1, backoff_s=0.0, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_server_without_range_support_restarts(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    server.no_range.add("/model.bin")
    dest = tmp_path / "model.bin"
    (tmp_path / "model.bin.part").write_bytes(b"stale bytes of an earlier attempt")
    download(server.url + "/model.bin", str(dest), SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["model.bin"]
    assert server.requests == [("/model.bin", "bytes=33-")]


def test_404_fails_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url + "/nothing.bin", str(tmp_path / "x.bin"), retries=3, backoff_s=0.0,
                 progress=False)
    assert len(server.requests) == 1 and leftovers(tmp_path) == []


def test_timeout_retries_then_fails(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    server.slow_s["/model.bin"] = 1.5
    with pytest.raises(DownloadError, match="after 2 attempt"):
        download(server.url + "/model.bin", str(tmp_path / "model.bin"), timeout_s=0.3, retries=1,
                 backoff_s=0.0, progress=False)
    assert len(server.requests) == 2
    assert "model.bin" not in leftovers(tmp_path)


def test_web_page_instead_of_file(server, tmp_path):
    server.files["/model.bin"] = b"<html>quota exceeded</html>"
    server.html.add("/model.bin")
    with pytest.raises(DownloadError, match="web page"):
        download(server.url + "/model.bin", str(tmp_path / "model.bin"), progress=False)
    assert "model.bin" not in leftovers(tmp_path)


def test_extract_members_by_name_only(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("body_models/J_regressor_wham.npy", b"wham"),
                           ("../evil.npy", b"x"), ("body_models/other.npy", b"o")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    extract_members(str(archive), {"J_regressor_wham.npy": str(out / "J_regressor_wham.npy")})
    assert leftovers(out) == ["J_regressor_wham.npy"] and not (tmp_path / "evil.npy").exists()
    with pytest.raises(DownloadError, match="has no"):
        extract_members(str(archive), {"missing.npy": str(out / "missing.npy")})


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_fetch_models_makes_everything_from_the_sources(server, tmp_path, smpl_arrays):
    """Checkpoint, regressors (archive), detector (checksum), SMPL (user's pickle) and the
    HMR2.0 export (from a served checkpoint); ViTPose is not needed with mediapipe."""
    import torch

    from wham_ros.models.export_onnx import export_hmr2
    from wham_ros.hmr2 import DecoderConfig, HMR2Encoder, load_hmr2
    from wham_ros.testing.synthetic_frontend import synthetic_weights_for
    from wham_ros.vit import ViTConfig

    vit = ViTConfig(embed_dim=64, depth=1, num_heads=4)
    dec = DecoderConfig(dim=1024, depth=1, heads=2, dim_head=16, mlp_dim=64)
    buf = io.BytesIO()
    torch.save({"state_dict": {k: torch.as_tensor(v) for k, v in
                               synthetic_weights_for(lambda: HMR2Encoder(vit, dec)).items()}}, buf)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name in ("J_regressor_wham", "J_regressor_feet", "J_regressor_h36m"):
            data = _npy(smpl_arrays[name])
            info = tarfile.TarInfo(f"body_models/{name}.npy")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    server.files.update({"/wham.tar": b"checkpoint bytes", "/body.tgz": archive.getvalue(),
                         "/det.onnx": PAYLOAD, "/hmr2a.ckpt": buf.getvalue()})
    sources = {
        "wham_checkpoint": Source("wham_vit_bedlam_w_3dpw.pth.tar", server.url + "/wham.tar", "t"),
        "body_models": Source("body_models.tar.gz", server.url + "/body.tgz", "t"),
        "detector": Source("yolox_l.onnx", server.url + "/det.onnx", "t", SHA, len(PAYLOAD)),
        "hmr2": Source("hmr2a.ckpt", server.url + "/hmr2a.ckpt", "t"),
        "vitpose": Source("vitpose.pth", server.url + "/not-needed", "t"),
    }
    assert set(sources) == set(SOURCES)
    smpl = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    with open(smpl, "wb") as fh:
        pickle.dump({k: smpl_arrays[k] for k in ("v_template", "shapedirs", "posedirs",
                                                 "J_regressor", "weights", "kintree_table", "f")},
                    fh, protocol=2)
    cache = tmp_path / "cache"
    values = {"wham_checkpoint": "", "body_model_dir": "", "detector_onnx": "",
              "vitpose_onnx": "", "hmr2_onnx": "", "keypoint_backend": "mediapipe"}
    models = ModelSet(values, str(cache), sources=sources)
    assert [s.file.key for s in models.status() if not s.ok] == [
        "wham_checkpoint", "smpl_neutral", "j_regressor_wham", "j_regressor_feet", "detector_onnx",
        "hmr2_onnx", "hmr2_onnx_data"]

    # without the SMPL file everything else is made and SMPL is reported with where to get it
    exporters = {"hmr2": lambda ckpt, dest: export_hmr2(
        load_hmr2(ckpt, backbone_cfg=vit, decoder_cfg=dec), dest)}
    report = fetch_models(models, None, exporters, backoff_s=0.0, progress=False)
    assert len(report.failed) == 1 and "smplify.is.tue.mpg.de" in report.failed[0]
    assert [s.file.key for s in models.status() if not s.ok] == ["smpl_neutral"]
    assert (cache / "yolox_l.onnx").read_bytes() == PAYLOAD
    assert "/not-needed" not in [p for p, _ in server.requests]
    report = fetch_models(models, str(smpl), exporters, backoff_s=0.0, progress=False)
    assert report.ok, report.failed
    statuses = models.status()
    assert all(s.ok for s in statuses)
    assert [s.file.key for s in statuses][-1] == "hmr2_onnx"  # tiny export: no external data
    with np.load(cache / "body_models" / "smpl" / "SMPL_NEUTRAL.npz") as z:
        np.testing.assert_allclose(z["v_template"], smpl_arrays["v_template"], rtol=1e-6)
    np.testing.assert_array_equal(np.load(cache / "body_models" / "J_regressor_feet.npy"),
                                  smpl_arrays["J_regressor_feet"])
    n_requests = len(server.requests)
    assert fetch_models(models, str(smpl), exporters, progress=False).made == []
    assert len(server.requests) == n_requests  # nothing left to get
    # no temporary file anywhere in the cache
    names = [n for _, _, files in os.walk(cache) for n in files]
    assert not [n for n in names if n.endswith((".part", ".tmp.npz")) or n.startswith(".")], names
