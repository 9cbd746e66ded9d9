"""Turn an uploaded file or a drawing into an image the model can take.

An upload is untrusted bytes from a browser. It is accepted only when its first bytes
say PNG or JPEG (the file name and the browser's MIME type are easy to get wrong or to
fake), when it is small, and when Pillow can decode it into a picture of sane size.
Anything else raises ``ValueError`` with a sentence a student understands.

Accepted pictures are converted to the dataset's shape: grayscale or RGB, resized to
28x28 or 32x32. MNIST digits are light strokes on black, centred by their bounding box
in a 20x20 area, so ``mnist_style`` inverts a dark-on-light drawing (when its border is
light) and centres the ink the same way; without it, the picture is only resized.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
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


def decode_upload(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Check and decode uploaded bytes into an RGB uint8 array (H, W, 3).

    Transparent areas become white, like paper, so a drawing with a transparent
    background reads as dark ink on a light page.

    Raises:
        ValueError: for an empty, oversized, non-PNG/JPEG, damaged or enormous image.
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValueError("file must not be empty")
    if len(data) > max_bytes:
        raise ValueError(f"file must be at most {max_bytes / 1024 / 1024:.0f} MB; this one is "
                         f"{len(data) / 1024 / 1024:.1f} MB")
    expected = sniff_format(bytes(data[:8]))
    try:
        with warnings.catch_warnings():
            # Pillow only warns about a decompression bomb below twice its limit; make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data)), formats=[expected]) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ValueError(f"image must have at most {MAX_PIXELS:,} pixels; this one is "
                                     f"{image.width}x{image.height}")
                image.load()
                return _to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        raise ValueError(f"file looks like a {expected} but could not be read; it may be damaged ({error})") from error


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
        ValueError: for a bad picture or shape, or an MNIST-style picture with no ink.
    """
    from PIL import Image

    picture = np.asarray(picture)
    if picture.dtype != np.uint8 or picture.ndim not in (2, 3) or (picture.ndim == 3 and picture.shape[2] not in (
            1, 3, 4)) or min(picture.shape[:2]) < 1:
        raise ValueError(f"picture must be a uint8 array shaped (h, w), (h, w, 3) or (h, w, 4); got "
                         f"{picture.dtype} {picture.shape}")
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
    """Invert a light page, then put the ink's bounding box, square-padded, in the middle."""
    from PIL import Image, ImageOps

    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:
        image = ImageOps.invert(image)
        gray = 255 - gray
    rows, cols = np.nonzero(gray > INK_THRESHOLD)
    if len(rows) == 0:
        raise ValueError("picture must contain a drawing; it looks blank")
    box = image.crop((int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1))
    side = max(box.size)
    # The box goes in the middle of a black square, whose side makes the box fill 20/28 of it.
    canvas_side = max(1, round(side / MNIST_BOX_FRACTION))
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
