"""Download, verify and extract the official Tiny ImageNet zip (``data.download=true``).

The archive (about 240 MB) is streamed to ``<root>.zip.part`` beside the target folder
while its MD5 is computed, checked against :data:`TINY_IMAGENET_MD5`, renamed to
``<root>.zip``, and extracted so that ``<root>/wnids.txt`` exists (the zip's top folder,
``tiny-imagenet-200/``, becomes ``root`` whatever its name). A zip that is already there
with the right checksum is not downloaded again. Entries that would land outside the
target (absolute paths, ``..``) are refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import zipfile
from pathlib import Path

from sci_lightning.errors import DatasetError

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
#: MD5 of the official tiny-imagenet-200.zip
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"


def md5_of_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    timeout_s: float = 60.0,
    chunk_bytes: int = 1 << 20,
    progress: bool = True,
    session=None,
) -> Path:
    """Stream ``url`` to ``dest`` (via ``dest.part``), checking the MD5 when given.

    Raises DatasetError on an HTTP/network failure or a checksum mismatch (the partial
    file is removed either way) with what to do instead.
    """
    import requests

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    http = session or requests.Session()
    h = hashlib.md5()
    try:
        with http.get(url, stream=True, timeout=timeout_s) as resp:
            if resp.status_code != 200:
                raise DatasetError(
                    f"Downloading {url} failed: HTTP {resp.status_code} {resp.reason}. Download it by hand "
                    f"and unzip it under '{dest.parent}', or use data=synthetic."
                )
            total = int(resp.headers.get("Content-Length") or 0) or None
            from .images import progress_bar

            bar = progress_bar(total or 0, f"Downloading {dest.name}", progress)
            try:
                with open(part, "wb") as f:
                    for block in resp.iter_content(chunk_size=chunk_bytes):
                        if block:
                            f.write(block)
                            h.update(block)
                            bar.update(len(block))
            finally:
                bar.close()
    except requests.RequestException as exc:
        part.unlink(missing_ok=True)
        raise DatasetError(
            f"Downloading {url} failed: {exc}. Check the network (or proxy), or download it by hand and "
            f"unzip it under '{dest.parent}', or use data=synthetic."
        ) from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    got = h.hexdigest()
    if md5 is not None and got.lower() != md5.lower():
        part.unlink(missing_ok=True)
        raise DatasetError(
            f"Checksum mismatch for {url}: MD5 {got}, expected {md5}. The download is corrupt or was "
            "altered; it was deleted. Retry, or download it by hand and verify it."
        )
    os.replace(part, dest)
    return dest


def safe_extract(zip_path: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Extract ``zip_path`` into ``dest_dir``, refusing entries that escape it."""
    dest_dir = Path(dest_dir).resolve()
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                target = (dest_dir / info.filename).resolve()
                if target != dest_dir and dest_dir not in target.parents:
                    raise DatasetError(
                        f"'{zip_path}' holds an entry outside its folder ('{info.filename}'); refusing it."
                    )
            zf.extractall(dest_dir)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"'{zip_path}' is not a valid zip ({exc}); delete it and download again.") from exc
    return dest_dir


def download_tiny_imagenet(
    root: str | os.PathLike,
    *,
    url: str = TINY_IMAGENET_URL,
    md5: str | None = TINY_IMAGENET_MD5,
    timeout_s: float = 60.0,
    progress: bool = True,
    keep_zip: bool = False,
    session=None,
) -> Path:
    """Make ``root`` the extracted Tiny ImageNet folder (``root/wnids.txt``); return ``root``.

    Does nothing when ``root/wnids.txt`` exists. Refuses to overwrite a non-empty ``root``
    that lacks it. ``url``/``md5`` are overridable for mirrors (and tests).
    """
    root = Path(root).expanduser()
    if (root / "wnids.txt").is_file():
        return root
    if root.exists() and any(root.iterdir()):
        raise DatasetError(
            f"'{root}' is not empty but holds no wnids.txt; refusing to extract Tiny ImageNet over it. "
            "Point data.root at an empty or absent folder."
        )
    parent = root.parent
    parent.mkdir(parents=True, exist_ok=True)
    zip_path = parent / f"{root.name}.zip"
    if not (zip_path.is_file() and (md5 is None or md5_of_file(zip_path) == md5.lower())):
        download_file(url, zip_path, md5=md5, timeout_s=timeout_s, progress=progress, session=session)
    staging = parent / f".{root.name}.extract-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(zip_path, staging)
        found = [p.parent for p in staging.rglob("wnids.txt")]
        if not found:
            raise DatasetError(f"'{zip_path}' holds no wnids.txt: it is not the Tiny ImageNet archive.")
        top = min(found, key=lambda p: len(p.parts))
        if root.exists():
            root.rmdir()  # empty (checked above)
        shutil.move(str(top), str(root))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not keep_zip:
        zip_path.unlink(missing_ok=True)
    if progress:
        print(f"Tiny ImageNet extracted to '{root}'", file=sys.stderr)
    return root
