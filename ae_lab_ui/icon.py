"""The app's page icon, drawn here so that no page load asks a font server for it.

A Material icon as ``page_icon`` makes the browser fetch its picture from
fonts.gstatic.com at every page load, which fails offline (a class's server often has no
internet). This is the same idea in a few lines of Pillow: an autoencoder's hourglass,
wide input, narrow code, wide output, in the app's primary colour.
"""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw

SIZE = 64
COLOUR = (143, 32, 44, 255)  # the primary button's red


@functools.cache
def page_icon() -> Image.Image:
    """The 64×64 icon: two trapezoids meeting at a narrow waist (the latent code)."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    waist_top, waist_bottom = 26, 38
    draw.polygon([(4, 6), (SIZE - 4, 6), (SIZE // 2 + 5, waist_top), (SIZE // 2 - 5, waist_top)], fill=COLOUR)
    draw.rectangle([SIZE // 2 - 5, waist_top, SIZE // 2 + 5, waist_bottom], fill=COLOUR)
    draw.polygon([(SIZE // 2 - 5, waist_bottom), (SIZE // 2 + 5, waist_bottom), (SIZE - 4, SIZE - 6), (4, SIZE - 6)],
                 fill=COLOUR)
    return image
