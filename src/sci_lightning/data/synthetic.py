"""A synthetic stand-in for Tiny ImageNet, written in the official on-disk layout.

Every class has a fixed signature a small network picks up within an epoch or two:

* a colour (hues spread evenly around the colour wheel),
* a shape (disk, square, ring or triangle) drawn in that colour at a random place and size,
* a background grating with a class-specific orientation and frequency, which also
  identifies the class in the grayscale images (every ``grayscale_every``-th image is
  saved as a single-channel JPEG, like the ~2% grayscale images of Tiny ImageNet).

Per-image randomness (position, size, phase, colour jitter, pixel noise) comes from a
generator seeded with ``(seed, split, class, image)``, so the same settings always give
byte-identical files, whatever the number of worker processes. A manifest
(``synthetic_manifest.json``) records the settings; the tree is generated once per
setting and reused, and regenerated when the settings (or the generator version) change
or a previous generation was interrupted. Generation builds aside and renames into place
under a lock, so concurrent runs on one cache share one tree (see
:func:`generate_synthetic_tiny_imagenet`).
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sci_lightning.errors import DatasetError
from sci_lightning.fileio import build_once, replace_dir, unique_sibling

__all__ = ["MANIFEST", "SyntheticSpec", "generate_synthetic_tiny_imagenet", "is_generated", "synthetic_root"]

GENERATOR_VERSION = 1
MANIFEST = "synthetic_manifest.json"
_IN_PROGRESS = ".generating"
_SHAPES = ("disk", "square", "ring", "triangle")
_SPLIT_CODE = {"train": 1, "val": 2}


@dataclass(frozen=True)
class SyntheticSpec:
    """Settings that determine the generated files (all of them go into the manifest)."""

    classes: int = 10
    train_per_class: int = 50
    val_per_class: int = 10
    image_px: int = 64
    seed: int = 0
    grayscale_every: int = 25  # every Nth image (per class and split) is saved as grayscale
    jpeg_quality: int = 90

    @classmethod
    def from_config(cls, cfg) -> SyntheticSpec:
        return cls(
            classes=int(cfg.synthetic_classes),
            train_per_class=int(cfg.synthetic_train_per_class),
            val_per_class=int(cfg.synthetic_val_per_class),
            image_px=int(cfg.synthetic_image_px),
            seed=int(cfg.seed),
        )

    def wnid(self, c: int) -> str:
        """Class ids shaped like ImageNet wnids ('n' + 8 digits) but outside WordNet's range."""
        return f"n9{c:07d}"

    def manifest(self) -> dict:
        return {"generator_version": GENERATOR_VERSION, **asdict(self)}


def synthetic_root(cache_dir: str | os.PathLike, spec: SyntheticSpec) -> Path:
    """Where the tree for ``spec`` lives: ``<cache_dir>/synthetic/c{classes}-t{train}-v{val}-{px}px-s{seed}-<hash>``."""
    digest = hashlib.sha1(json.dumps(spec.manifest(), sort_keys=True).encode()).hexdigest()[:8]
    name = f"c{spec.classes}-t{spec.train_per_class}-v{spec.val_per_class}-{spec.image_px}px-s{spec.seed}-{digest}"
    return Path(cache_dir) / "synthetic" / name


def class_signature(spec: SyntheticSpec, c: int) -> dict:
    """The fixed look of class ``c``: RGB colour (0-1), shape, grating angle and frequency."""
    hue = c / spec.classes
    rgb = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    golden = (math.sqrt(5) - 1) / 2
    return {
        "rgb": tuple(float(v) for v in rgb),
        "shape": _SHAPES[c % len(_SHAPES)],
        "angle_rad": math.pi * ((c * golden) % 1.0),
        "cycles": 2.0 + (c % 5) * 1.5,  # grating periods across the image
    }


def render_image(
    spec: SyntheticSpec, c: int, split: str, i: int
) -> tuple[np.ndarray, tuple[int, int, int, int], bool]:
    """One image of class ``c``: (uint8 HxWx3, bounding box x0 y0 x1 y1, grayscale?)."""
    px = spec.image_px
    sig = class_signature(spec, c)
    rng = np.random.default_rng([spec.seed, _SPLIT_CODE[split], c, i])
    yy, xx = np.mgrid[0:px, 0:px].astype(np.float32) / px
    # background: dim random tint + class grating
    base = rng.uniform(0.15, 0.45, size=3).astype(np.float32)
    a = sig["angle_rad"] + rng.normal(0, 0.08)
    phase = rng.uniform(0, 2 * math.pi)
    grating = np.sin(2 * math.pi * sig["cycles"] * (xx * math.cos(a) + yy * math.sin(a)) + phase)
    img = base[None, None, :] + 0.18 * grating[..., None]
    # foreground shape in the class colour
    r = rng.uniform(0.18, 0.32)
    cx, cy = rng.uniform(r, 1 - r, size=2)
    dx, dy = xx - cx, yy - cy
    shape = sig["shape"]
    if shape == "disk":
        mask = dx * dx + dy * dy <= r * r
    elif shape == "square":
        mask = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    elif shape == "ring":
        d2 = dx * dx + dy * dy
        mask = (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    else:  # triangle pointing up
        mask = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    colour = np.clip(np.array(sig["rgb"], dtype=np.float32) * rng.uniform(0.8, 1.1), 0, 1)
    img = np.where(mask[..., None], colour[None, None, :], img)
    img = img + rng.normal(0, 0.05, size=img.shape).astype(np.float32)
    arr = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if len(xs) else (0, 0, px - 1, px - 1)
    gray = spec.grayscale_every > 0 and i % spec.grayscale_every == spec.grayscale_every - 1
    return arr, box, gray


def _save(arr: np.ndarray, gray: bool, path: Path, quality: int) -> None:
    from PIL import Image

    img = Image.fromarray(arr, "RGB")
    if gray:
        img = img.convert("L")
    img.save(path, format="JPEG", quality=quality)


def _val_order(spec: SyntheticSpec) -> list[tuple[int, int]]:
    """(class, index within class) of val_0, val_1, ...: classes interleaved, seeded."""
    pairs = [(c, i) for c in range(spec.classes) for i in range(spec.val_per_class)]
    perm = np.random.default_rng([spec.seed, 99]).permutation(len(pairs))
    return [pairs[k] for k in perm]


def _write_train_class(root: str, spec: SyntheticSpec, c: int) -> int:
    wnid = spec.wnid(c)
    d = Path(root) / "train" / wnid
    (d / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(spec.train_per_class):
        name = f"{wnid}_{i}.JPEG"
        arr, box, gray = render_image(spec, c, "train", i)
        _save(arr, gray, d / "images" / name, spec.jpeg_quality)
        lines.append(f"{name}\t{box[0]}\t{box[1]}\t{box[2]}\t{box[3]}\n")
    (d / f"{wnid}_boxes.txt").write_text("".join(lines))
    return spec.train_per_class


def _write_val_range(root: str, spec: SyntheticSpec, start: int, stop: int) -> list[str]:
    order = _val_order(spec)
    images = Path(root) / "val" / "images"
    lines = []
    for k in range(start, stop):
        c, i = order[k]
        name = f"val_{k}.JPEG"
        arr, box, gray = render_image(spec, c, "val", i)
        _save(arr, gray, images / name, spec.jpeg_quality)
        lines.append(f"{name}\t{spec.wnid(c)}\t{box[0]}\t{box[1]}\t{box[2]}\t{box[3]}\n")
    return lines


def is_generated(root: str | os.PathLike, spec: SyntheticSpec) -> bool:
    """True when ``root`` holds a complete tree generated with exactly ``spec``."""
    root = Path(root)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest == spec.manifest() and not (root / _IN_PROGRESS).exists()


def generate_synthetic_tiny_imagenet(
    root: str | os.PathLike,
    spec: SyntheticSpec = SyntheticSpec(),
    *,
    workers: int | None = None,
    progress: bool = True,
    lock_timeout_s: float = 3600.0,
) -> Path:
    """Write the synthetic dataset for ``spec`` into ``root`` (unless already there) and return ``root``.

    Files: wnids.txt, words.txt, train/<wnid>/images/<wnid>_<i>.JPEG with
    train/<wnid>/<wnid>_boxes.txt, val/images/val_<k>.JPEG with val/val_annotations.txt,
    and the manifest. An existing tree made with other settings is replaced, but only if
    it carries this generator's manifest or in-progress marker (a foreign non-empty folder
    raises DatasetError instead of being deleted).

    Safe to call from several processes at once (:func:`sci_lightning.fileio.build_once`):
    one generates into a temporary sibling folder and renames it to ``root``; the others
    wait for it (up to ``lock_timeout_s``) and reuse the result.

    Args:
        workers: processes to render with (None: up to 4, by CPU count; 1: in-process).
    """
    root = Path(root)

    def build() -> None:
        _refuse_foreign(root)
        tmp = unique_sibling(root)
        try:
            _write_tree(tmp, spec, workers, progress)
            replace_dir(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already unless the build failed
        if progress:
            total = spec.classes * (spec.train_per_class + spec.val_per_class)
            print(f"Synthetic Tiny ImageNet ({total} images) ready in '{root}'", file=sys.stderr)

    build_once(
        root,
        lambda: is_generated(root, spec),
        build,
        timeout_s=lock_timeout_s,
        what=f"synthetic dataset '{root}'",
    )
    return root


def _refuse_foreign(root: Path) -> None:
    """DatasetError if ``root`` is a non-empty folder this generator did not write."""
    ours = (root / MANIFEST).exists() or (root / _IN_PROGRESS).exists()
    if root.exists() and any(root.iterdir()) and not ours:
        raise DatasetError(
            f"Cannot generate the synthetic dataset into '{root}': the folder holds other files. "
            "Point data.cache_dir at another folder or empty this one."
        )


def _write_meta_files(root: Path, spec: SyntheticSpec) -> None:
    wnids = [spec.wnid(c) for c in range(spec.classes)]
    (root / "wnids.txt").write_text("".join(w + "\n" for w in wnids))
    words = []
    for c, w in enumerate(wnids):
        sig = class_signature(spec, c)
        hue_deg = round(colorsys.rgb_to_hsv(*sig["rgb"])[0] * 360)
        words.append(
            f"{w}\tsynthetic {c}: {sig['shape']}, hue {hue_deg} deg, grating {sig['cycles']:g} cycles "
            f"at {math.degrees(sig['angle_rad']):.0f} deg\n"
        )
    (root / "words.txt").write_text("".join(words))


def _write_tree(root: Path, spec: SyntheticSpec, workers: int | None, progress: bool) -> None:
    """The whole tree for ``spec`` in the new folder ``root``, the manifest written last."""
    (root / "val" / "images").mkdir(parents=True)
    _write_meta_files(root, spec)
    n_val = spec.classes * spec.val_per_class
    total = spec.classes * spec.train_per_class + n_val
    if workers is None:
        workers = max(1, min(4, os.cpu_count() or 1))
    if total < 2000:
        workers = 1
    from .images import progress_bar

    bar = progress_bar(total, f"Generating synthetic Tiny ImageNet ({spec.classes} classes)", progress)
    val_chunks = [(s, min(s + 1000, n_val)) for s in range(0, n_val, 1000)]
    val_lines: list[list[str]] = [[] for _ in val_chunks]
    try:
        if workers == 1:
            for c in range(spec.classes):
                bar.update(_write_train_class(str(root), spec, c))
            for j, (s, e) in enumerate(val_chunks):
                val_lines[j] = _write_val_range(str(root), spec, s, e)
                bar.update(e - s)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                train_f = [pool.submit(_write_train_class, str(root), spec, c) for c in range(spec.classes)]
                val_f = [pool.submit(_write_val_range, str(root), spec, s, e) for s, e in val_chunks]
                for f in train_f:
                    bar.update(f.result())
                for j, f in enumerate(val_f):
                    val_lines[j] = f.result()
                    bar.update(val_chunks[j][1] - val_chunks[j][0])
    finally:
        bar.close()
    (root / "val" / "val_annotations.txt").write_text("".join(line for chunk in val_lines for line in chunk))
    (root / MANIFEST).write_text(json.dumps(spec.manifest(), indent=1, sort_keys=True))
