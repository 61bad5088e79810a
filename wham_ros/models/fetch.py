"""Download, convert and export the model files a configuration needs.

:func:`download` fetches one URL with resume (HTTP ``Range`` on ``<dest>.part``), a
per-read timeout, retries with back-off, size and SHA-256 verification, and an atomic
rename: the final name only ever holds a complete, verified file. :func:`fetch_models`
makes every missing file of a :class:`~wham_ros.models.registry.ModelSet` from the public
downloads of its sources (:data:`~wham_ros.models.registry.SOURCES`), the user's own SMPL
pickle and the ONNX exporters.
"""
from __future__ import annotations

import http.client
import importlib.util
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from wham_ros.assets.checksums import sha256_file
from wham_ros.models.registry import SMPL_HOWTO, ModelSet

LOG = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20
USER_AGENT = "wham-ros-models"
# HTTP statuses worth another attempt (server busy or momentarily failing).
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download failed for good (the message says why and what is kept)."""


class _Retry(Exception):
    """A transient failure: the attempt is repeated (resuming from the partial file)."""


def _progress_bar(total: Optional[int], initial: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, disable=not enabled, leave=True)


def _transfer(url: str, part: str, timeout_s: float, progress: bool, name: str) -> None:
    """One attempt: append the rest of ``url`` to ``part`` (or restart it).

    Raises:
        _Retry: timeout, connection error, early close, retryable HTTP status.
        DownloadError: any other HTTP error, or a web page instead of the file.
    """
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the partial file is whole
            return
        if exc.code in _RETRY_STATUS:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Retry(str(getattr(exc, "reason", exc))) from exc
    with resp:
        if have and resp.status != 206:  # the server ignored Range: start over
            LOG.info("%s: server does not resume; downloading from the start", name)
            have = 0
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/html") and not name.endswith((".html", ".htm")):
            raise DownloadError(
                f"{url} returned a web page instead of {name} (a quota or sign-in page?). "
                f"Download it in a browser and put it at {os.path.dirname(part)}/{name}")
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as fh, \
                _progress_bar(total, have, name, progress) as bar:
            while True:
                try:
                    block = resp.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:  # timeout, reset, cut
                    raise _Retry(f"transfer interrupted after {fh.tell()} bytes: "
                                 f"{exc.__class__.__name__} {exc}") from exc
                if not block:
                    break
                fh.write(block)
                bar.update(len(block))
            got = fh.tell()
    if total is not None and got < total:
        raise _Retry(f"connection closed at {got} of {total} bytes")


def download(url: str, dest: str, sha256: Optional[str] = None, size: Optional[int] = None,
             timeout_s: float = 30.0, retries: int = 3, backoff_s: float = 2.0,
             progress: bool = True) -> str:
    """Download ``url`` to ``dest`` atomically, resuming an earlier partial download.

    Bytes go to ``<dest>.part``; an interrupted attempt is resumed with an HTTP ``Range``
    request (or restarted when the server does not support it) up to ``retries`` times, with
    exponential back-off. The complete file is checked against ``size`` and ``sha256`` when
    given and only then renamed to ``dest``.

    Args:
        url: http(s) URL.
        dest: final path (its folder is created).
        sha256: expected hex digest (None: not verified).
        size: expected size in bytes (None: not verified).
        timeout_s: connect and per-read timeout, seconds.
        retries: further attempts after a transient failure.
        backoff_s: wait before the first retry (doubled each time).
        progress: show a progress bar (tqdm, on stderr).

    Returns:
        ``dest``.

    Raises:
        DownloadError: HTTP error, retries exhausted (the ``.part`` file is kept for a later
            resume), or a size/checksum mismatch (the ``.part`` file is deleted).
    """
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + ".part"
    name = os.path.basename(dest)
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout_s, progress, name)
            break
        except _Retry as exc:
            if attempt == retries:
                raise DownloadError(
                    f"{url}: {exc} (after {retries + 1} attempt(s)); the partial file {part} is "
                    "kept and the next run resumes it") from exc
            wait = backoff_s * 2 ** attempt
            LOG.warning("%s: %s; retrying in %.0f s", name, exc, wait)
            time.sleep(wait)
    got = os.path.getsize(part)
    if size is not None and got != size:
        os.remove(part)
        raise DownloadError(f"{url}: got {got} bytes, expected {size}; deleted the partial file")
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256.lower():
            os.remove(part)
            raise DownloadError(f"{url}: sha256 {digest} does not match the expected {sha256}; "
                                "deleted the download")
    os.replace(part, dest)
    return dest


def extract_members(archive: str, names: Dict[str, str]) -> None:
    """Extract tar members by base name, each atomically to its destination.

    Only regular files are read; nothing else in the archive is written anywhere.

    Args:
        archive: a (compressed) tar file.
        names: member base name -> destination path.

    Raises:
        DownloadError: a wanted member is not in the archive.
    """
    found = set()
    with tarfile.open(archive) as tar:
        for member in tar:
            base = os.path.basename(member.name)
            if not member.isfile() or base not in names or base in found:
                continue
            dest = names[base]
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            src = tar.extractfile(member)
            with src, tempfile.NamedTemporaryFile(dir=os.path.dirname(dest), delete=False,
                                                  prefix=f".{base}.") as out:
                shutil.copyfileobj(src, out, CHUNK_BYTES)
            os.replace(out.name, dest)
            found.add(base)
    missing = sorted(set(names) - found)
    if missing:
        raise DownloadError(f"{archive} has no {missing}")


def _export_vitpose(checkpoint: str, dest: str) -> None:
    from wham_ros.models.export_onnx import export_vitpose
    from wham_ros.vitpose import load_vitpose

    export_vitpose(load_vitpose(checkpoint), dest)


def _export_hmr2(checkpoint: str, dest: str) -> None:
    from wham_ros.models.export_onnx import export_hmr2
    from wham_ros.hmr2 import load_hmr2

    export_hmr2(load_hmr2(checkpoint), dest)


# Source key -> (checkpoint path, output .onnx) -> None.
EXPORTERS: Dict[str, Callable[[str, str], None]] = {"vitpose": _export_vitpose,
                                                    "hmr2": _export_hmr2}


def export_atomically(export: Callable[[str, str], None], checkpoint: str, dest: str) -> None:
    """Run ``export`` into a scratch folder beside ``dest``, then move its files in place.

    The ``.onnx`` names its external-data file (``<name>.onnx.data``), so the export runs
    under the final base name; the data file is moved first and the ``.onnx`` last.
    """
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as scratch:
        out = os.path.join(scratch, os.path.basename(dest))
        export(checkpoint, out)
        for name in sorted(os.listdir(scratch), key=lambda n: n == os.path.basename(dest)):
            os.replace(os.path.join(scratch, name), os.path.join(folder, name))


@dataclass
class FetchReport:
    """What :func:`fetch_models` did and what it could not do."""

    made: List[str] = field(default_factory=list)
    failed: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def onnx_export_available() -> bool:
    """Whether the ``onnx`` package (needed to save ViT-H's > 2 GB exports) is installed."""
    return importlib.util.find_spec("onnx") is not None


def fetch_models(models: ModelSet, smpl: Optional[str] = None,
                 exporters: Optional[Dict[str, Callable[[str, str], None]]] = None,
                 timeout_s: float = 30.0, retries: int = 3, backoff_s: float = 2.0,
                 progress: bool = True) -> FetchReport:
    """Make every missing file of ``models``.

    Downloads go to ``<cache>/downloads`` (the WHAM checkpoint and the detector straight to
    their final paths); an existing download is reused. SMPL is converted from ``smpl``
    (the user's ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``); ViTPose and HMR2.0 are
    exported from their checkpoints. A step that fails is reported and the others go on.

    Args:
        models: the configuration's model files.
        smpl: path of the user's SMPL pickle (None: SMPL is reported as still missing).
        exporters: source key -> ``(checkpoint, onnx path) -> None`` (default: the real
            ViT-H / HMR2.0 exports).
        timeout_s, retries, backoff_s, progress: see :func:`download`.
    """
    sources = models.sources
    exporters = EXPORTERS if exporters is None else exporters
    report = FetchReport()
    todo = [s.file for s in models.status(hash_files=False) if not s.ok]

    def get(key: str, dest: Optional[str] = None) -> str:
        src = sources[key]
        path = dest or os.path.join(models.downloads_dir, src.name)
        if not os.path.isfile(path):
            LOG.info("downloading %s from %s (%s)", src.name, src.url, src.licence)
            download(src.url, path, src.sha256, src.size, timeout_s, retries, backoff_s, progress)
        return path

    def step(what: str, action: Callable[[], None]) -> None:
        try:
            action()
            report.made.append(what)
        except Exception as exc:  # one failed step must not stop the others; reported below
            LOG.error("%s: %s", what, exc)
            report.failed.append(f"{what}: {exc}")

    by_key = {f.key: f for f in todo}
    smpl_file = by_key.get("smpl_neutral")
    if smpl_file is not None:
        if smpl:
            def convert_smpl():
                from wham_ros.body.convert import convert

                os.makedirs(os.path.dirname(smpl_file.path), exist_ok=True)
                tmp = smpl_file.path + ".tmp.npz"
                convert(smpl, tmp)
                os.replace(tmp, smpl_file.path)
            step(f"{smpl_file.path} (converted from {smpl})", convert_smpl)
        else:
            report.failed.append(f"{smpl_file.path}: needs your SMPL file: {SMPL_HOWTO}; then run "
                                 f"{models.fetch_command('--smpl', 'PATH/TO/FILE.pkl')}")
    regressors = {os.path.basename(f.path): f.path for f in todo if f.source == "body_models"}
    if regressors:
        step(", ".join(sorted(regressors.values())),
             lambda: extract_members(get("body_models"), regressors))
    for f in todo:
        if f.key == "wham_checkpoint":
            step(f.path, lambda f=f: get("wham_checkpoint", f.path))
        elif f.key == "detector_onnx" and f.parameter in models.explicit:
            report.failed.append(f"{f.path}: {models.fix_for(f)}")
        elif f.key == "detector_onnx":
            step(f.path, lambda f=f: get("detector", f.path))
    for key in ("vitpose", "hmr2"):
        wanted = [f for f in todo if f.source == key]
        if not wanted:
            continue
        onnx_path = models.values[f"{key}_onnx"]
        if not onnx_export_available():
            report.failed.append(f"{onnx_path}: exporting needs the onnx package: "
                                 "pip install onnx   (then run the same command again)")
            continue
        step(onnx_path, lambda key=key, onnx_path=onnx_path: export_atomically(
            exporters[key], get(key), onnx_path))
    return report
