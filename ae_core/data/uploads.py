"""Turn an uploaded file or a drawing into an image the model can take.

An upload is untrusted bytes from a browser. It is accepted only when its first bytes
say PNG or JPEG (the file name and the browser's MIME type are easy to get wrong or to
fake), when it is small, when its header gives a sane size (at most ``MAX_SIDE`` pixels
a side and ``MAX_ASPECT_RATIO``:1), judged before any pixel is decoded, and when Pillow
can decode it. Anything else raises ``ValueError`` with a sentence a student understands.

Accepted pictures are converted to the dataset's shape: grayscale or RGB, resized to
28x28 or 32x32. MNIST digits are light strokes on black, centred by their bounding box
in a 20x20 area, so ``mnist_style`` inverts a dark-on-light drawing (when its border is
light) and centres the ink the same way; without it, the picture is only resized.
"""

from __future__ import annotations

import io
import logging
import struct

import numpy as np

logger = logging.getLogger(__name__)

# .streamlit/config.toml's server.maxUploadSize (in MiB) must equal this; tests/test_settings.py pins it.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# A 12-megapixel phone photo (4,032 x 3,024) fits; 4,096 x 4,096 RGB decodes to 48 MiB at most.
MAX_SIDE = 4096
# A page or photo of a drawing is nowhere near 20:1; a thin strip is a way to make a huge
# square canvas (its side is the longest side) out of a few hundred bytes.
MAX_ASPECT_RATIO = 20
# MNIST-style centring works on a canvas of at most this side; the result is 28 or 32 pixels.
WORK_SIDE = 512
FORMATS = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}
# MNIST puts each digit's bounding box in a 20x20 box inside the 28x28 image.
MNIST_BOX_FRACTION = 20 / 28
INK_THRESHOLD = 30


def sniff_format(data: bytes) -> str:
    """The format named by the file's first bytes: "PNG" or "JPEG".

    Raises:
        ValueError: for anything else.
    """
    for name, magic in FORMATS.items():
        if data.startswith(magic):
            return name
    raise ValueError("file must be a PNG or JPEG image; this file is neither (its first bytes say otherwise)")


def check_picture_size(width: int, height: int) -> None:
    """Refuse a picture too large or too thin to be a drawing, naming its size and the limit.

    Args:
        width: the picture's width in pixels.
        height: the picture's height in pixels.

    Raises:
        ValueError: when a side is over ``MAX_SIDE`` or the sides differ by more than
            ``MAX_ASPECT_RATIO`` times.
    """
    size = f"{width:,} × {height:,} pixels"
    if max(width, height) > MAX_SIDE:
        raise ValueError(f"This image is too large: {size}; the limit is {MAX_SIDE:,} pixels on each side.")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ValueError(f"This image is too thin: {size}; the limit is {MAX_ASPECT_RATIO}:1 between its longest "
                         "and shortest sides.")


def decode_upload(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Check and decode uploaded bytes into an RGB uint8 array (H, W, 3).

    Transparent areas become white, like paper, so a drawing with a transparent
    background reads as dark ink on a light page.

    Args:
        data: the uploaded file's bytes.
        max_bytes: the largest file accepted.

    Returns:
        uint8 array shaped (H, W, 3).

    Raises:
        ValueError: for an empty, oversized, non-PNG/JPEG, damaged, enormous or very thin image.
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValueError("file must not be empty")
    if len(data) > max_bytes:
        raise ValueError(f"file must be at most {max_bytes / 1024 / 1024:.0f} MB; this one is "
                         f"{len(data) / 1024 / 1024:.1f} MB")
    expected = sniff_format(bytes(data[:8]))
    with _open_header(bytes(data), expected) as image:
        # The size comes from the header: nothing has been decoded yet.
        check_picture_size(image.width, image.height)
        try:
            image.load()
            return _to_rgb(image)
        except (*_READ_ERRORS, ValueError, _bomb_error()) as error:
            raise _unreadable(expected, error) from error


def _open_header(data: bytes, expected: str):  # -> PIL.Image.Image, not yet decoded
    """Read only the header of a PNG or JPEG, without Pillow's own decompression-bomb check.

    ``Image.open`` refuses a picture over ~179 megapixels in Pillow's words ("decompression
    bomb DOS attack") before the size can be judged here; the format's own reader does not.
    """
    from PIL import JpegImagePlugin, PngImagePlugin

    reader = PngImagePlugin.PngImageFile if expected == "PNG" else JpegImagePlugin.JpegImageFile
    try:
        return reader(io.BytesIO(data))
    except (*_READ_ERRORS, ValueError, _bomb_error()) as error:
        raise _unreadable(expected, error) from error


# What Pillow raises on damaged data (the same list Image.open catches, plus decoding errors).
# Pillow also raises ValueError for hostile parts (a text or colour-profile block that
# unpacks to megabytes) and DecompressionBombError (an Exception) for enormous pictures.
_READ_ERRORS = (OSError, SyntaxError, IndexError, TypeError, EOFError, struct.error)


def _bomb_error() -> type[Exception]:
    from PIL import Image

    return Image.DecompressionBombError


def _unreadable(expected: str, error: Exception) -> ValueError:
    """The refusal in the app's words; Pillow's own ("decompression bomb DOS attack"...) go to the log."""
    from PIL import Image

    logger.info("refused an upload that claims to be a %s: %s: %s", expected, type(error).__name__, error)
    if isinstance(error, Image.DecompressionBombError) or "decompress" in str(error).lower():
        return ValueError(f"file looks like a {expected} but could not be read: it unpacks to far more data than a "
                          "picture of its size holds, so it is refused")
    return ValueError(f"file looks like a {expected} but could not be read; it may be damaged or cut short")


def _to_rgb(image) -> np.ndarray:  # image: PIL.Image.Image
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(paper, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def fit_to_shape(picture: np.ndarray, image_shape: tuple[int, int, int], *, mnist_style: bool = False) -> np.ndarray:
    """Convert an RGB or grayscale picture to the dataset's (H, W, C) uint8 shape.

    Args:
        picture: uint8 (h, w, 3), (h, w, 4) (alpha over white) or (h, w).
        image_shape: the model's (H, W, C), C being 1 or 3.
        mnist_style: invert when the border is light, then centre the ink's bounding box in
            the middle 20/28 of the image, as MNIST was made.

    Returns:
        uint8 array shaped ``image_shape``.

    Raises:
        ValueError: for a bad picture or shape, a picture too large or too thin (see
            ``check_picture_size``), or an MNIST-style picture with no ink.
    """
    from PIL import Image

    picture = np.asarray(picture)
    if picture.dtype != np.uint8 or picture.ndim not in (2, 3) or (picture.ndim == 3 and picture.shape[2] not in (
            1, 3, 4)) or min(picture.shape[:2]) < 1:
        raise ValueError(f"picture must be a uint8 array shaped (h, w), (h, w, 3) or (h, w, 4); got "
                         f"{picture.dtype} {picture.shape}")
    # A drawing from the canvas has not been through decode_upload; hold it to the same bounds.
    check_picture_size(picture.shape[1], picture.shape[0])
    if len(image_shape) != 3 or image_shape[2] not in (1, 3):
        raise ValueError(f"image_shape must be (H, W, 1) or (H, W, 3); got {image_shape!r}")
    height, width, channels = image_shape
    if picture.ndim == 3 and picture.shape[2] == 4:
        picture = _to_rgb(Image.fromarray(picture, "RGBA"))
    elif picture.ndim == 3 and picture.shape[2] == 1:
        picture = picture[:, :, 0]
    image = Image.fromarray(picture)
    image = image.convert("L" if channels == 1 else "RGB")
    if mnist_style:
        image = _centre_ink(image, height, width)
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(height, width, channels)


def _centre_ink(image, height: int, width: int):  # PIL images in and out
    """Invert a light page, then put the ink's bounding box, square-padded, in the middle.

    The canvas is at most ``WORK_SIDE`` pixels a side: a large box is shrunk first, so the
    cost stays small whatever the picture's size (the square once took the longest side).
    """
    from PIL import Image, ImageOps

    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    light_page = border.mean() > 127
    # Ink is what differs from the page by more than the threshold, as after inverting a light one.
    ink = gray < 255 - INK_THRESHOLD if light_page else gray > INK_THRESHOLD
    # Row and column projections give the box exactly (thin strokes included) at one byte a
    # pixel, where np.nonzero would make two int64 indices per ink pixel.
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        raise ValueError("picture must contain a drawing; it looks blank")
    box = image.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    # Shrink a box whose canvas would pass WORK_SIDE; the final resize to 28 or 32 pixels
    # loses far more detail than this one.
    scale = min(1.0, WORK_SIDE * MNIST_BOX_FRACTION / max(box.size))
    if scale < 1.0:
        box = box.resize((max(1, round(box.width * scale)), max(1, round(box.height * scale))),
                         Image.Resampling.LANCZOS)
    if light_page:
        box = ImageOps.invert(box)  # only the box: inverting the whole page would copy all of it
    # The box goes in the middle of a black square, whose side makes the box fill 20/28 of it.
    canvas_side = max(1, round(max(box.size) / MNIST_BOX_FRACTION))
    canvas = Image.new(image.mode, (canvas_side, canvas_side), 0)
    canvas.paste(box, ((canvas_side - box.width) // 2, (canvas_side - box.height) // 2))
    return canvas


def load_upload(data: bytes, image_shape: tuple[int, int, int], *, mnist_style: bool = False,
                max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Validate uploaded bytes and convert them to one image of ``image_shape``.

    Returns:
        uint8 array shaped ``image_shape``.

    Raises:
        ValueError: for a file that is not a small, readable PNG or JPEG, or a blank drawing
            with ``mnist_style``.
    """
    return fit_to_shape(decode_upload(data, max_bytes=max_bytes), image_shape, mnist_style=mnist_style)
