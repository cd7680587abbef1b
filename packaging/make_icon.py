"""Draw the app icon: a photo-like disc, its left half grey, its right half three different
colorizations of it (the app's idea: one black-and-white photo, several plausible colours).

    .venv/bin/python packaging/make_icon.py     # writes resources/icons/divcolor.{png,ico}

Drawn, not downloaded, so it is reproducible and carries no third-party licence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZE = 256  # the largest size an .ico holds
SCALE = 4  # drawn at 4x, then downsampled: cheap antialiasing


def draw(size: int = SIZE) -> Image.Image:
    s = size * SCALE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    ImageDraw.Draw(img).rounded_rectangle((0, 0, s - 1, s - 1), radius=s // 5, fill=(32, 36, 40, 255))

    # A "photo": soft vertical gradient with a bright sun disc, as lightness in [0, 1].
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    light = 0.35 + 0.45 * (1 - yy)
    light[(yy - 0.38) ** 2 + (xx - 0.62) ** 2 < 0.012] = 0.95
    light[yy > 0.66] = 0.3 + 0.2 * xx[yy > 0.66]

    # Left half grey; the right half's three wedges tint the same lightness three ways.
    tints = np.array([(1.0, 0.55, 0.2), (0.2, 0.75, 0.7), (0.6, 0.35, 0.95)], np.float32)
    angle = np.degrees(np.arctan2(yy - 0.5, xx - 0.5))  # -90 top .. 90 bottom on the right half
    wedge = np.clip(((angle + 90) / 60).astype(int), 0, 2)
    rgb = np.repeat(light[..., None], 3, axis=2)
    right = xx >= 0.5
    rgb[right] = light[right][:, None] * (0.35 + 0.9 * tints[wedge[right]])
    disc = (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.38**2
    photo = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB").convert("RGBA")
    img.paste(photo, (0, 0), Image.fromarray((disc * 255).astype(np.uint8), "L"))
    # Thin dark seams between the halves and wedges keep them apart at 16 px.
    d = ImageDraw.Draw(img)
    c, r, w = s / 2, 0.38 * s, max(2, s // 90)
    d.line((c, c - r, c, c + r), fill=(32, 36, 40, 255), width=w)
    for a in (-30, 30):
        t = np.radians(a)
        d.line((c, c, c + r * np.cos(t), c + r * np.sin(t)), fill=(32, 36, 40, 255), width=w)
    d.ellipse((c - r, c - r, c + r, c + r), outline=(235, 235, 235, 255), width=2 * w)
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    icon = draw()
    icon.save(ICONS / "divcolor.png", optimize=True)
    icon.save(
        ICONS / "divcolor.ico",
        sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)],
    )
    print(f"wrote {ICONS / 'divcolor.png'} and {ICONS / 'divcolor.ico'}")


if __name__ == "__main__":
    main()
