"""Upload validation: only small, readable PNG/JPEG files, converted to the dataset's shape."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from ae_core.data.uploads import (
    MAX_UPLOAD_BYTES,
    decode_upload,
    fit_to_shape,
    load_upload,
    sniff_format,
)


def encoded(array: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def drawing(size: int = 100) -> np.ndarray:
    """A dark vertical bar (a "1") on white paper, off-centre in the upper left."""
    page = np.full((size, size), 255, np.uint8)
    page[10:50, 20:26] = 0
    return page


def test_a_png_drawing_becomes_an_mnist_style_digit() -> None:
    image = load_upload(encoded(drawing(), "PNG"), (28, 28, 1), mnist_style=True)
    assert image.shape == (28, 28, 1) and image.dtype == np.uint8
    # Inverted: the background is black and the stroke bright, like MNIST.
    assert image[0, 0, 0] == 0 and image.max() > 200
    # The ink's bounding box (40 rows tall) now fills the middle 20 of 28 rows, centred.
    rows = np.flatnonzero(image[..., 0].max(axis=1) > 60)
    assert 3 <= rows.min() <= 5 and 22 <= rows.max() <= 24
    columns = np.flatnonzero(image[..., 0].max(axis=0) > 60)
    assert abs((columns.min() + columns.max()) / 2 - 13.5) <= 1.0


def test_without_mnist_style_the_picture_is_only_resized() -> None:
    colour = np.zeros((64, 48, 3), np.uint8)
    colour[..., 0] = 200
    image = load_upload(encoded(colour, "JPEG", quality=95), (32, 32, 3))
    assert image.shape == (32, 32, 3)
    assert abs(int(image[..., 0].mean()) - 200) <= 3 and image[..., 2].mean() < 5
    gray = load_upload(encoded(colour, "PNG"), (28, 28, 1))
    assert gray.shape == (28, 28, 1) and abs(int(gray.mean()) - round(0.299 * 200)) <= 2


def test_transparency_is_white_paper() -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[5:35, 18:22] = (0, 0, 0, 255)  # an opaque black stroke on a fully transparent page
    picture = decode_upload(encoded(rgba, "PNG"))
    assert picture.shape == (40, 40, 3) and picture[0, 0].tolist() == [255, 255, 255]
    assert picture[20, 20].tolist() == [0, 0, 0]
    # A canvas drawing (RGBA array) goes through the same conversion.
    image = fit_to_shape(rgba, (28, 28, 1), mnist_style=True)
    assert image[0, 0, 0] == 0 and image.max() > 200


def test_files_that_are_not_png_or_jpeg_are_refused() -> None:
    gif = io.BytesIO()
    Image.new("L", (8, 8)).save(gif, format="GIF")
    with pytest.raises(ValueError, match="file must be a PNG or JPEG image"):
        load_upload(gif.getvalue(), (28, 28, 1))
    with pytest.raises(ValueError, match="file must be a PNG or JPEG image"):
        load_upload(b"<svg xmlns='http://www.w3.org/2000/svg'/>", (28, 28, 1))
    with pytest.raises(ValueError, match="file must not be empty"):
        load_upload(b"", (28, 28, 1))
    assert sniff_format(encoded(drawing(), "PNG")) == "PNG"


def test_damaged_and_oversized_files_are_refused() -> None:
    png = encoded(drawing(), "PNG")
    with pytest.raises(ValueError, match="looks like a PNG but could not be read"):
        load_upload(png[:60], (28, 28, 1))
    with pytest.raises(ValueError, match="looks like a JPEG but could not be read"):
        load_upload(b"\xff\xd8\xff" + b"\x00" * 100, (28, 28, 1))
    with pytest.raises(ValueError, match="file must be at most 2 MB"):
        load_upload(png + b"\x00" * MAX_UPLOAD_BYTES, (28, 28, 1))
    # A tiny file that claims an enormous picture (a decompression bomb) is refused before decoding.
    tiny = encoded(np.zeros((1, 1), np.uint8), "PNG")
    for side, message in ((6000, "image must have at most 16,777,216 pixels; this one is 6000x6000"),
                          (20000, "could be decompression bomb")):
        header = b"IHDR" + side.to_bytes(4, "big") * 2 + tiny[24:29]
        bomb = tiny[:12] + header + zlib.crc32(header).to_bytes(4, "big") + tiny[33:]
        with pytest.raises(ValueError, match=message):
            load_upload(bomb, (28, 28, 1))


def test_a_blank_drawing_and_bad_shapes_are_refused() -> None:
    blank = encoded(np.full((50, 50), 255, np.uint8), "PNG")
    with pytest.raises(ValueError, match="picture must contain a drawing; it looks blank"):
        load_upload(blank, (28, 28, 1), mnist_style=True)
    with pytest.raises(ValueError, match=r"image_shape must be \(H, W, 1\) or \(H, W, 3\)"):
        fit_to_shape(drawing(), (28, 28, 2))
    with pytest.raises(ValueError, match="picture must be a uint8 array"):
        fit_to_shape(drawing().astype(np.float32), (28, 28, 1))
