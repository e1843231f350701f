"""Leaf helpers of the data layer: decoding one image, and the progress bar of long data jobs.

Kept apart so that the dataset, the fast cache, the synthetic generator and the download
can all use them without importing each other.
"""

from __future__ import annotations

import os
import sys

from sci_lightning.errors import DatasetError

__all__ = ["load_rgb", "progress_bar"]


def load_rgb(path: str | os.PathLike):
    """Open an image with PIL and return it as RGB (grayscale/palette/CMYK converted).

    A file PIL cannot decode (corrupt, truncated, not an image) raises DatasetError naming
    the file, so a broken image never turns into a silently wrong sample.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        raise DatasetError(
            f"Cannot decode image '{path}': {exc}. The file is corrupt or truncated; replace it "
            "(re-extract the dataset, or delete the folder and rerun with data.download=true)."
        ) from exc


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr (a plain line every 10,000 items if tqdm is missing)."""
    try:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="img", disable=not enabled, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm ships with lightning

        class _Print:
            def __init__(self):
                self.n = 0

            def update(self, k):
                self.n += k
                if enabled and (self.n == total or self.n % 10000 < k):
                    print(f"{desc}: {self.n}/{total}", file=sys.stderr)

            def close(self):
                pass

        return _Print()
