"""data.download against a loopback stub HTTP server serving a tiny zip (never the internet)."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sci_lightning.data import DataConfig, build_datamodule, scan_tiny_imagenet
from sci_lightning.data.download import download_tiny_imagenet, safe_extract
from sci_lightning.data.synthetic import SyntheticSpec, generate_synthetic_tiny_imagenet
from sci_lightning.errors import DatasetError


def zip_tree(src: Path, top: str = "tiny-imagenet-200") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, f"{top}/{p.relative_to(src)}")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """The stub is on loopback: never route requests through a proxy from the environment."""
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory) -> bytes:
    src = tmp_path_factory.mktemp("src") / "t"
    generate_synthetic_tiny_imagenet(
        src, SyntheticSpec(classes=2, train_per_class=2, val_per_class=1, image_px=16), progress=False
    )
    return zip_tree(src)


@pytest.fixture
def server(tiny_zip):
    """127.0.0.1, ephemeral port. Routes: /tiny.zip (the zip, with Content-Length), /missing (404)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path == "/tiny.zip":
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(tiny_zip)))
                self.end_headers()
                self.wfile.write(tiny_zip)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_checksum_and_extracts_to_root(server, tiny_zip, tmp_path):
    base, hits = server
    root = tmp_path / "data" / "my-tiny"
    md5 = hashlib.md5(tiny_zip).hexdigest()
    out = download_tiny_imagenet(root, url=f"{base}/tiny.zip", md5=md5, progress=False)
    assert out == root and (root / "wnids.txt").is_file()
    assert scan_tiny_imagenet(root).num_classes == 2
    assert not list((tmp_path / "data").glob("*.zip*"))  # zip and .part cleaned up
    assert not list((tmp_path / "data").glob(".my-tiny.extract-*"))
    # already there: no second request
    download_tiny_imagenet(root, url=f"{base}/tiny.zip", md5=md5, progress=False)
    assert hits == ["/tiny.zip"]


def test_checksum_mismatch_is_refused_and_nothing_is_left(server, tmp_path):
    base, _ = server
    root = tmp_path / "tiny"
    with pytest.raises(DatasetError, match="Checksum mismatch.*expected 90528d7ca1a48142e341f4ef8d21d0de"):
        download_tiny_imagenet(root, url=f"{base}/tiny.zip", progress=False)  # the official MD5
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def test_http_error_says_what_to_do(server, tmp_path):
    base, _ = server
    with pytest.raises(DatasetError, match="HTTP 404.*data=synthetic"):
        download_tiny_imagenet(tmp_path / "tiny", url=f"{base}/missing", md5=None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_extract_over_a_foreign_folder(server, tiny_zip, tmp_path):
    base, _ = server
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        download_tiny_imagenet(root, url=f"{base}/tiny.zip", md5=None, progress=False)


def test_zip_slip_entries_are_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(DatasetError, match="outside"):
        safe_extract(evil, tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()


def test_datamodule_downloads_on_validate(server, tiny_zip, tmp_path):
    base, _ = server
    cfg = DataConfig(
        root=str(tmp_path / "tiny-imagenet-200"),
        cache_dir=str(tmp_path / "cache"),
        download=True,
        download_url=f"{base}/tiny.zip",
        download_md5=hashlib.md5(tiny_zip).hexdigest(),
        num_workers=0,
    )
    dm = build_datamodule(cfg, image_size=16, mean=(0.5,) * 3, std=(0.5,) * 3, progress=False)
    dm.validate()
    assert dm.num_classes == 2


def test_without_download_flag_nothing_is_fetched(server, tmp_path):
    base, hits = server
    cfg = DataConfig(root=str(tmp_path / "absent"), download=False, download_url=f"{base}/tiny.zip")
    dm = build_datamodule(cfg, image_size=16, mean=(0.5,) * 3, std=(0.5,) * 3, progress=False)
    with pytest.raises(DatasetError, match="data.download=true"):
        dm.validate()
    assert hits == []
