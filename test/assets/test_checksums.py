"""SHA-256 of model files, remembered by (path, size, mtime)."""
import hashlib
import os

from wham_ros.assets.checksums import HashCache, sha256_file


def test_digest_is_remembered_until_size_or_mtime_change(tmp_path):
    path, store = tmp_path / "model.bin", tmp_path / "cache" / "sha256.json"
    path.write_bytes(b"a" * 3_000_000)
    first = HashCache(str(store)).sha256(str(path))
    assert first == sha256_file(str(path)) == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    # same size and mtime: a new HashCache answers from the store without reading the file
    st = os.stat(path)
    path.write_bytes(b"b" * 3_000_000)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert HashCache(str(store)).sha256(str(path)) == first
    # a new mtime: hashed again
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert HashCache(str(store)).sha256(str(path)) == hashlib.sha256(b"b" * 3_000_000).hexdigest()


def test_unreadable_store_is_ignored(tmp_path):
    store = tmp_path / "sha256.json"
    store.write_text("{not json")
    path = tmp_path / "f"
    path.write_bytes(b"x")
    assert HashCache(str(store)).sha256(str(path)) == hashlib.sha256(b"x").hexdigest()
    assert HashCache(None).sha256(str(path)) == hashlib.sha256(b"x").hexdigest()
