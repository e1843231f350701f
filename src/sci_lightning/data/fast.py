"""The fast input path: decode once into a uint8 cache, transform whole batches on the device.

Why: the per-image path decodes every JPEG again each epoch and does resize, ToTensor and
Normalize per image in Python worker processes; at 224-299 px that, not the JPEG decode,
is what limits a small CPU. Here

1. :func:`build_uint8_cache` decodes every image once (PIL, the same decoder as the
   reference path, converted to RGB) into ``N x px x px x 3`` uint8 in a ``.npy`` file
   read through a numpy memmap (Tiny ImageNet: 100 000 x 64 x 64 x 3 = 1.23 GB). A JSON
   fingerprint (file list + sizes + mtimes + px + format version) stored beside it makes
   any change of the source rebuild the cache. Concurrent runs on one cache share
   one build (a lock beside the file; built aside, renamed into place).
2. :class:`CachedImageDataset` hands out whole uint8 batches with one fancy-index read
   (``__getitems__``), so a worker does no per-image Python work.
3. :class:`BatchTransform` (called from the datamodule's ``on_after_batch_transfer``,
   i.e. on the GPU when training there) converts to float, resizes with antialiased
   bilinear interpolation (the same filter as PIL's bilinear resize used by the
   reference path), applies random-resized-crop + flip as one batched ``grid_sample``,
   and normalizes.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, default_collate

from sci_lightning.errors import DatasetError
from sci_lightning.fileio import atomic_write_json, build_once, unique_sibling
from sci_lightning.sci.preparation import PreparationFigures, measure_build, read_build_record

if TYPE_CHECKING:
    from sci_lightning.settings import EnergyConfig

from .images import load_rgb, progress_bar

__all__ = [
    "BatchTransform",
    "CachedImageDataset",
    "build_uint8_cache",
    "cache_paths",
    "collate_prebatched",
]

CACHE_FORMAT_VERSION = 1
_CHUNK = 2048


# --------------------------------------------------------------------------- cache


def fingerprint_files(paths: Sequence[str], *, extra: str = "") -> str:
    """SHA-256 over every path with its size and mtime (ns), in order, plus ``extra``.

    Any added, removed, renamed, rewritten or touched file changes the result.
    """
    h = hashlib.sha256()
    h.update(f"v{CACHE_FORMAT_VERSION}|{extra}\n".encode())
    for p in paths:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise DatasetError(f"Image '{p}' vanished while fingerprinting the cache source: {exc}") from exc
        h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode_uint8(path: str, image_px: int) -> np.ndarray:
    """One image as an (image_px, image_px, 3) uint8 array: PIL decode -> RGB, resized
    (PIL bilinear, antialiased) only when it is not already image_px x image_px."""
    from PIL import Image

    img = load_rgb(path)
    if img.size != (image_px, image_px):
        img = img.resize((image_px, image_px), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _decode_chunk(npy_path: str, start: int, paths: list[str], image_px: int) -> int:
    """Worker: decode ``paths`` into rows ``start..`` of the memmap at ``npy_path``."""
    arr = np.load(npy_path, mmap_mode="r+")
    for i, p in enumerate(paths):
        arr[start + i] = decode_uint8(p, image_px)
    arr.flush()
    del arr
    return len(paths)


def cache_paths(cache_dir: Path, key: str, source_root: Path, image_px: int) -> tuple[Path, Path]:
    """(array .npy, fingerprint .json) for one split of one source tree at one size."""
    tag = hashlib.sha1(str(Path(source_root).resolve()).encode()).hexdigest()[:12]
    stem = f"{tag}-{key}-{image_px}px"
    return cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"


def _cache_is_valid(npy: Path, meta: Path, fingerprint: str, count: int) -> bool:
    """True when ``npy`` exists and its fingerprint file names exactly this source."""
    if not (npy.is_file() and meta.is_file()):
        return False
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return info.get("fingerprint") == fingerprint and info.get("count") == count


def _reserve(path: Path) -> None:
    """Allocate the file's blocks now, so a full disk is ENOSPC here rather than SIGBUS in the memory map."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None:
        return
    with open(path, "r+b") as f:
        try:
            fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return  # a file system without it: written as before
            raise OSError(exc.errno, exc.strerror, str(path)) from None


def _decode_all(tmp: Path, paths: list[str], image_px: int, num_workers: int, chunk_images: int, bar) -> None:
    """Decode ``paths`` into a new (N, px, px, 3) uint8 ``.npy`` at ``tmp``."""
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), image_px, image_px, 3))
    _reserve(tmp)
    arr.flush()
    if num_workers > 1 and len(paths) > chunk_images:
        del arr
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            futures = [
                pool.submit(_decode_chunk, str(tmp), s, paths[s : s + chunk_images], image_px)
                for s in range(0, len(paths), chunk_images)
            ]
            for fut in as_completed(futures):
                bar.update(fut.result())
        return
    for i, p in enumerate(paths):
        arr[i] = decode_uint8(p, image_px)
        if (i + 1) % 256 == 0 or i + 1 == len(paths):
            bar.update((i % 256) + 1)
    arr.flush()
    del arr


def build_uint8_cache(
    paths: Sequence[str],
    cache_dir: str | os.PathLike,
    *,
    key: str,
    source_root: str | os.PathLike,
    image_px: int | None = None,
    num_workers: int = 0,
    progress: bool = True,
    chunk_images: int = _CHUNK,
    lock_timeout_s: float = 3600.0,
    records: list[PreparationFigures] | None = None,
    energy: EnergyConfig | Mapping[str, Any] | None = None,
    pue: float = 1.0,
    monitor_factory: Callable[[Any], Any] | None = None,
) -> Path:
    """Decode ``paths`` (in order) into a uint8 ``.npy`` of shape (N, px, px, 3); return its path.

    Reuses the existing file when its fingerprint matches; otherwise (first use, or any
    source file added/removed/changed) rebuilds it, in ``num_workers`` processes when > 1,
    with a progress bar. Safe from several processes at once
    (:func:`sci_lightning.fileio.build_once`): under a lock beside the cache, one process
    decodes into a temporary sibling, renames it into place and writes the fingerprint
    last; the others wait (up to ``lock_timeout_s``) and reuse it. An interrupted build is
    never taken as valid.

    Data preparation (SCI for AI): with ``records`` given, a build is measured as an
    EnergyMonitor window (:func:`sci_lightning.sci.preparation.measure_build`, settings
    ``energy``, facility factor ``pue``), its record written beside the cache
    (``<cache>.npy.energy.json``) and appended to ``records``; a reused cache appends its
    build's record marked ``reused`` (amortised: the same ``build_id`` counts once).

    Args:
        image_px: side of the cached images; None: the first image's (larger) side.
        chunk_images: images per task when decoding in several processes.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise DatasetError(f"No images to cache for '{key}'")
    cache_dir = Path(cache_dir)
    if image_px is None:
        image_px = max(load_rgb(paths[0]).size)
    npy, meta = cache_paths(cache_dir, key, Path(source_root), image_px)
    fp = fingerprint_files(paths, extra=f"px={image_px}")
    build = functools.partial(
        _write_cache, npy, meta, paths, key, source_root, image_px, fp, num_workers, chunk_images, progress
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    what = f"the {key} image cache '{npy}'"
    measure = {"energy": energy, "pue": pue, "monitor_factory": monitor_factory}
    is_valid = functools.partial(_cache_is_valid, npy, meta, fp, len(paths))
    _build_recorded(npy, is_valid, build, len(paths), records, timeout_s=lock_timeout_s, what=what, **measure)
    return npy


def _write_cache(
    npy: Path,
    meta: Path,
    paths: list[str],
    key: str,
    source_root: str | os.PathLike,
    image_px: int,
    fingerprint: str,
    num_workers: int,
    chunk_images: int,
    progress: bool,
) -> None:
    """Decode ``paths`` into a temporary sibling of ``npy``, rename it into place, then write ``meta``
    (the fingerprint goes last, so an interrupted build is never taken as valid)."""
    meta.unlink(missing_ok=True)
    tmp = unique_sibling(npy)
    bar = progress_bar(len(paths), f"Caching {key} images ({image_px}px uint8)", progress)
    try:
        _decode_all(tmp, paths, image_px, num_workers, chunk_images, bar)
        os.replace(tmp, npy)
    finally:
        bar.close()
        tmp.unlink(missing_ok=True)  # gone already unless the build failed
    info = {
        "format_version": CACHE_FORMAT_VERSION,
        "fingerprint": fingerprint,
        "count": len(paths),
        "image_px": image_px,
        "source_root": str(Path(source_root).resolve()),
        "split": key,
    }
    atomic_write_json(meta, info)


def _build_recorded(
    npy: Path,
    is_valid: Callable[[], bool],
    build: Callable[[], None],
    items: int,
    records: list[PreparationFigures] | None,
    *,
    timeout_s: float,
    what: str,
    **measure: Any,
) -> None:
    """:func:`build_once`; with ``records``, the build measured (or, reused, its record read) and appended once."""
    built: list[PreparationFigures | None] = []
    run = (
        build
        if records is None
        else lambda: built.append(measure_build("decode_cache", build, items=items, cache=npy, **measure))
    )
    build_once(npy, is_valid, run, timeout_s=timeout_s, what=what)
    if records is None:
        return
    record = built[0] if built else read_build_record(npy)  # None: unmeasured, or built before builds were
    if record is not None and all(r.build_id != record.build_id for r in records):
        records.append(record)


class CachedImageDataset(Dataset):
    """Rows of a uint8 cache as (HWC uint8 image, label); batches via ``__getitems__``.

    Args:
        npy_path: the cache built by :func:`build_uint8_cache`.
        labels: int64 label of each served sample.
        positions: row of each served sample in the cache (None: rows 0..len(labels)-1).
    """

    def __init__(self, npy_path: str | os.PathLike, labels: np.ndarray, positions: np.ndarray | None = None):
        self.npy_path = str(npy_path)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.positions = (
            np.arange(len(self.labels), dtype=np.int64)
            if positions is None
            else np.asarray(positions, dtype=np.int64)
        )
        if len(self.positions) != len(self.labels):
            raise ValueError("positions and labels differ in length")
        self._array: np.ndarray | None = None

    def _rows(self) -> np.ndarray:
        array = self._array
        if array is None:  # opened lazily, once per worker process
            array = self._array = np.load(self.npy_path, mmap_mode="r")
        return array

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return torch.from_numpy(np.array(self._rows()[self.positions[i]])), int(self.labels[i])

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """One whole batch: (uint8 N x H x W x 3, int64 N)."""
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.positions[idx]
        order = np.argsort(rows, kind="stable")  # read the memmap front to back
        images = np.empty((len(rows),) + self._rows().shape[1:], dtype=np.uint8)
        images[order] = self._rows()[rows[order]]
        return torch.from_numpy(images), torch.from_numpy(self.labels[idx])


def collate_prebatched(batch: object) -> Sequence[torch.Tensor]:
    """collate_fn for :class:`CachedImageDataset`: its ``__getitems__`` already returns a
    batch; per-item lists (e.g. a wrapped dataset) fall back to ``default_collate``."""
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], torch.Tensor):
        return batch
    return default_collate(cast(list, batch))


# --------------------------------------------------------------------------- batch transform


class _CpuBufferPool:
    """Recycles CPU output buffers whose previous contents nobody references any more.

    A fresh 38 MB float tensor per batch (64 x 3 x 224 x 224) costs more in first-touch
    page faults than the whole resize + normalize, because glibc serves blocks that large
    straight from mmap. A buffer is handed out again only when the pool's own reference
    is the only one left: no other Python reference to the tensor, no C++ reference
    (e.g. autograd saved it for backward) and no view of its storage. Where those
    reference counts are not available, every call allocates.
    """

    def __init__(self, max_buffers: int = 4):
        self.max_buffers = max_buffers
        self._bufs: list[torch.Tensor] = []

    def _is_free(self, i: int) -> bool:
        try:
            # references: the list slot + getrefcount's argument
            if sys.getrefcount(self._bufs[i]) > 2:
                return False
            if self._bufs[i]._use_count() != 1:  # pyright: ignore[reportAttributeAccessIssue]
                return False
            # the tensor's own reference + the temporary storage object
            return torch._C._storage_Use_Count(self._bufs[i].untyped_storage()._cdata) <= 2
        except (AttributeError, RuntimeError, TypeError):
            return False

    def get(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        shape = tuple(shape)
        # a buffer made under torch.inference_mode (Lightning's validation loop) is an
        # inference tensor that cannot be written outside it, and vice versa: keep them apart
        inference = torch.is_inference_mode_enabled()
        for i in range(len(self._bufs)):  # by index: a loop variable would be one more reference
            if (
                tuple(self._bufs[i].shape) == shape
                and self._bufs[i].dtype == dtype
                and self._bufs[i].is_inference() == inference
                and self._is_free(i)
            ):
                return self._bufs[i]
        new = torch.empty(shape, dtype=dtype)
        if len(self._bufs) >= self.max_buffers:
            self._bufs.pop(0)
        self._bufs.append(new)
        return new

    def __getstate__(self) -> dict:
        return {"max_buffers": self.max_buffers, "_bufs": []}


class BatchTransform:
    """uint8 (N, H, W, 3) batch -> normalized float32 (N, 3, S, S), on the batch's device.

    Without augmentation: bilinear resize with antialiasing, then ``(x / 255 - mean) / std``.
    On CPU the resize runs on uint8 (the antialiased uint8 kernel, which rounds like PIL)
    and the result lands in a recycled NCHW buffer; on a GPU it runs in float32 and the
    result is channels_last. This reproduces the reference
    ``Resize((S, S)) -> ToTensor -> Normalize`` to within PIL's uint8 rounding: on GPU
    within 1 intensity level (of 255), on CPU within 2 (at 224 px ~8% of values differ by
    1 level, ~0.003% by 2; mean 0.08 level).

    With augmentation: a random resized crop (area fraction in [crop_scale_min, 1], aspect
    ratio in [3/4, 4/3], uniformly placed) and a horizontal flip with probability
    flip_p, drawn per image and applied to the whole batch as one ``affine_grid`` +
    ``grid_sample`` (bilinear). On a GPU the crop is sampled straight to S x S (after an
    antialiased downscale when S is smaller than the source, so the crop only upsamples);
    on CPU it is sampled at the source size, rounded to uint8 and then resized like the
    eval path (cheaper; one extra interpolation at 64 px).

    ``cpu_threads``: intra-op threads for the CPU path (default 1; None: leave torch's
    setting). The work is memory-bound and shares the cores with the DataLoader workers;
    on the 2-core development machine one thread was both faster and far steadier than
    two (6.7 ms vs 30-130 ms per 64-image batch at 224 px), see
    docs/measurements/data_pipeline.md. The previous setting is restored after each batch.
    """

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        crop_scale_min: float = 0.35,
        flip_p: float = 0.5,
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        cpu_threads: int | None = 1,
    ):
        self.image_size = int(image_size)
        self.cpu_threads = cpu_threads
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        # (x / 255 - mean) / std == x * scale + bias
        self._scale_list = [1.0 / (255.0 * s) for s in self.std]
        self._bias_list = [-m / s for m, s in zip(self.mean, self.std)]
        self._scale = torch.tensor(self._scale_list, dtype=torch.float32).view(1, 3, 1, 1)
        self._bias = torch.tensor(self._bias_list, dtype=torch.float32).view(1, 3, 1, 1)
        self._consts: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._pool = _CpuBufferPool()
        self.crop_scale_min = float(crop_scale_min)
        self.flip_p = float(flip_p)
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def _norm_consts(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._consts:
            self._consts[device] = (self._scale.to(device), self._bias.to(device))
        return self._consts[device]

    def random_theta(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2, 3) affine matrices of random resized crops + flips in grid_sample's
        normalized coordinates (x_in = theta @ [x_out, y_out, 1])."""
        u = torch.rand(n, 5, generator=generator)
        area = self.crop_scale_min + (1.0 - self.crop_scale_min) * u[:, 0]
        log_r = self.log_ratio[0] + (self.log_ratio[1] - self.log_ratio[0]) * u[:, 1]
        r = torch.exp(log_r)
        w = torch.sqrt(area * r).clamp(max=1.0)  # width as a fraction of the image
        h = torch.sqrt(area / r).clamp(max=1.0)
        cx = (1.0 - w) * (2.0 * u[:, 2] - 1.0)  # crop centre, inside the image
        cy = (1.0 - h) * (2.0 * u[:, 3] - 1.0)
        flip = torch.where(u[:, 4] < self.flip_p, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = w * flip
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        return theta

    def __call__(
        self, images: torch.Tensor, *, augment: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected a uint8 (N, H, W, 3) batch, got {tuple(images.shape)} {images.dtype}")
        x = images.permute(0, 3, 1, 2)  # N, C, H, W view in channels_last memory
        if x.device.type != "cpu":
            return self._on_device(x, augment, generator)
        prev = torch.get_num_threads()
        if not self.cpu_threads or self.cpu_threads == prev:
            return self._on_cpu(x, augment, generator)
        torch.set_num_threads(self.cpu_threads)
        try:
            return self._on_cpu(x, augment, generator)
        finally:
            torch.set_num_threads(prev)

    def _on_cpu(self, x: torch.Tensor, augment: bool, generator: torch.Generator | None) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.image_size
        if augment:
            theta = self.random_theta(n, generator)
            grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
            xf = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
            x = xf.round_().clamp_(0, 255).to(torch.uint8).contiguous(memory_format=torch.channels_last)
        if (h, w) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        out = self._pool.get((n, c, s, s))
        for ch in range(c):  # per-channel scalar ops: vectorized, no broadcasting
            out[:, ch].copy_(x[:, ch]).mul_(self._scale_list[ch]).add_(self._bias_list[ch])
        return out

    def _on_device(self, x: torch.Tensor, augment: bool, generator: torch.Generator | None) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.image_size
        xf = x.float()
        if augment:
            if s < h or s < w:
                xf = F.interpolate(xf, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
            theta = self.random_theta(n, generator).to(x.device)
            grid = F.affine_grid(theta, [n, c, s, s], align_corners=False)
            xf = F.grid_sample(xf, grid, mode="bilinear", padding_mode="border", align_corners=False)
        elif (h, w) != (s, s):
            xf = F.interpolate(xf, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        scale, bias = self._norm_consts(x.device)
        return xf.mul_(scale).add_(bias)
