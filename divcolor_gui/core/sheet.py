"""Contact sheets: the grey input and the top-k colorizations side by side, each
labelled with its rank and weight."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def contact_sheet(
    grey_rgb: np.ndarray, results: list[tuple[float, np.ndarray]], tile_height: int = 256
) -> Image.Image:
    """grey_rgb (H, W, 3) uint8; results [(weight, (H, W, 3) uint8)] heaviest first."""
    H, W = grey_rgb.shape[:2]
    th = min(tile_height, H)
    tw = max(1, round(W * th / H))
    label_h = 22
    tiles = [("input (L only)", grey_rgb)] + [
        (f"mode {i + 1}: {w * 100:.1f}%", img) for i, (w, img) in enumerate(results)
    ]
    sheet = Image.new("RGB", (len(tiles) * (tw + 4) + 4, th + label_h + 8), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for i, (label, img) in enumerate(tiles):
        x = 4 + i * (tw + 4)
        sheet.paste(Image.fromarray(img).resize((tw, th), Image.LANCZOS), (x, 4))
        draw.text((x + 4, th + 8), label, fill=(235, 235, 235))
    return sheet
