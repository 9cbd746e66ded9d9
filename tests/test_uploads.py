"""Upload validation: only small, readable PNG/JPEG files, converted to the dataset's shape."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zlib
from pathlib import Path

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
    # A tiny file that claims an enormous picture (a decompression bomb) is refused before decoding,
    # in the app's words, never Pillow's ("decompression bomb DOS attack").
    for side, shown in ((6000, "6,000 × 6,000"), (20000, "20,000 × 20,000")):
        with pytest.raises(ValueError, match=f"This image is too large: {shown} pixels; the limit is 4,096 pixels") as info:
            load_upload(claimed_png(side, side), (28, 28, 1))
        assert "bomb" not in str(info.value)


def claimed_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims ``width`` x ``height`` pixels."""
    tiny = encoded(np.zeros((1, 1), np.uint8), "PNG")
    header = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + tiny[24:29]
    return tiny[:12] + header + zlib.crc32(header).to_bytes(4, "big") + tiny[33:]


def thin_png(width: int, height: int) -> bytes:
    """A real white PNG of ``width`` x ``height``, a black dot in two corners: a few hundred bytes.

    The dots make the ink's bounding box the whole picture, the worst case for centring it.
    """
    page = np.full((height, width), 255, np.uint8)
    page[0, 0] = page[-1, -1] = 0
    return encoded(page, "PNG")


def test_a_thin_image_is_refused_fast_in_the_apps_words() -> None:
    # A 1x40,000 PNG once became a 56,000-pixel square canvas: 3.0 GB and 12.9 s.
    for width, height in ((1, 40_000), (40_000, 1)):
        data = thin_png(width, height)
        assert len(data) < 1000
        start = time.perf_counter()
        with pytest.raises(ValueError, match=f"This image is too large: {width:,} × {height:,} pixels; "
                                             "the limit is 4,096 pixels on each side"):
            load_upload(data, (28, 28, 1), mnist_style=True)
        assert time.perf_counter() - start < 1.0
    # Within the side limit but thinner than 20:1 is refused too, naming the ratio.
    with pytest.raises(ValueError, match="This image is too thin: 10 × 300 pixels; the limit is "
                                         "20:1 between its longest and shortest sides"):
        load_upload(thin_png(10, 300), (28, 28, 1), mnist_style=True)
    with pytest.raises(ValueError, match="This image is too thin: 3,000 × 100 pixels"):
        fit_to_shape(np.zeros((100, 3000), np.uint8), (28, 28, 1))
    # Exactly 20:1 is allowed: a long stroke down a 20 x 400 page is a "1".
    page = np.full((400, 20), 255, np.uint8)
    page[:, 5:15] = 0
    image = load_upload(encoded(page, "PNG"), (28, 28, 1), mnist_style=True)
    rows = np.flatnonzero(image[..., 0].max(axis=1) > 0)
    assert image.shape == (28, 28, 1) and 3 <= rows.min() <= 5 and 22 <= rows.max() <= 24


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's /proc/self/status")
def test_refusing_a_thin_image_allocates_little() -> None:
    # Pillow allocates outside tracemalloc, and a black canvas it gets from calloc is never
    # touched, so resident memory hides it; the peak address space (VmPeak) of a fresh process
    # (no earlier test has raised it) does not. Today's limit: 3 GB for a 1x40,000 PNG.
    script = (
        "import io\n"
        "from PIL import Image\n"
        "from ae_core.data.uploads import load_upload\n"
        "def peak_kib():\n"
        "    status = open('/proc/self/status').read().split('VmPeak:')[1]\n"
        "    return int(status.split()[0])\n"
        "page = Image.new('L', (1, 40_000), 255)\n"
        "page.putpixel((0, 0), 0)\n"
        "page.putpixel((0, 39_999), 0)\n"
        "buffer = io.BytesIO()\n"
        "page.save(buffer, format='PNG')\n"
        "before = peak_kib()\n"
        "try:\n"
        "    load_upload(buffer.getvalue(), (28, 28, 1), mnist_style=True)\n"
        "except ValueError:\n"
        "    pass\n"
        "print(peak_kib() - before)\n"
    )
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    grown_kib = int(proc.stdout.strip().splitlines()[-1])
    assert grown_kib < 64 * 1024, f"refusing it raised peak memory by {grown_kib / 1024:.0f} MiB"


def test_a_large_drawing_is_centred_on_a_bounded_canvas() -> None:
    # Within the limits, a big page still works: a 2,000-pixel bar on a 4,000 x 400 (10:1) page.
    page = np.full((400, 4000), 255, np.uint8)
    page[150:250, 1000:3000] = 0
    image = load_upload(encoded(page, "PNG"), (28, 28, 1), mnist_style=True)
    columns = np.flatnonzero(image[..., 0].max(axis=0) > 60)
    rows = np.flatnonzero(image[..., 0].max(axis=1) > 60)
    assert image[0, 0, 0] == 0 and 3 <= columns.min() <= 5 and 22 <= columns.max() <= 24
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 1.0


def test_a_blank_drawing_and_bad_shapes_are_refused() -> None:
    blank = encoded(np.full((50, 50), 255, np.uint8), "PNG")
    with pytest.raises(ValueError, match="picture must contain a drawing; it looks blank"):
        load_upload(blank, (28, 28, 1), mnist_style=True)
    with pytest.raises(ValueError, match=r"image_shape must be \(H, W, 1\) or \(H, W, 3\)"):
        fit_to_shape(drawing(), (28, 28, 2))
    with pytest.raises(ValueError, match="picture must be a uint8 array"):
        fit_to_shape(drawing().astype(np.float32), (28, 28, 1))


def test_pillow_s_refusals_are_said_in_the_app_s_words() -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = encoded(drawing(), "PNG")
    # A text block of a few kilobytes that unpacks to megabytes: Pillow refuses it in its own jargon.
    packed = chunk(b"zTXt", b"note\x00\x00" + zlib.compress(b"a" * 5_000_000, 9))
    with pytest.raises(ValueError, match="looks like a PNG but could not be read: it unpacks to far more data") as info:
        decode_upload(png[:33] + packed + png[33:])
    assert "PngImagePlugin" not in str(info.value) and "bomb" not in str(info.value)
    with pytest.raises(ValueError, match="looks like a PNG but could not be read; it may be damaged or cut short$"):
        decode_upload(png[: len(png) // 2])
