"""The data layer's leaf helpers (sci_lightning.data.images): decoding one image, the progress bar."""

from __future__ import annotations

import pytest
from PIL import Image

from sci_lightning.data.images import load_rgb, progress_bar
from sci_lightning.errors import DatasetError


@pytest.mark.parametrize(
    "mode, colour, rgb", [("L", 200, (200, 200, 200)), ("RGBA", (10, 20, 30, 0), (10, 20, 30))]
)
def test_grayscale_and_alpha_images_come_back_as_rgb(tmp_path, mode, colour, rgb):
    path = tmp_path / "image.png"
    Image.new(mode, (3, 2), colour).save(path)
    img = load_rgb(path)
    assert img.mode == "RGB" and img.size == (3, 2)
    assert img.getpixel((2, 1)) == rgb


def test_a_palette_image_keeps_its_colours(tmp_path):
    path = tmp_path / "palette.png"
    Image.new("RGB", (2, 2), (255, 0, 0)).convert("P").save(path)
    assert load_rgb(path).getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_a_file_that_does_not_decode_names_itself_and_the_fix(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=r"Cannot decode image '.*broken\.png'.*re-extract the dataset"):
        load_rgb(path)


def test_a_truncated_jpeg_is_refused(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match="cut.jpg"):
        load_rgb(path)


def test_the_progress_bar_reports_on_stderr_and_stays_silent_when_disabled(capsys):
    bar = progress_bar(total=5, desc="decoding", enabled=True)
    bar.update(2)
    bar.update(3)
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and "decoding" in captured.err and "5/5" in captured.err

    quiet = progress_bar(total=5, desc="decoding", enabled=False)
    quiet.update(5)
    quiet.close()
    assert capsys.readouterr().err == ""
