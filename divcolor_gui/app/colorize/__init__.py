"""The Colorize tab and the panels only it uses: the thumbnail strip, the large preview, the
latent explorer and its sliders, and the queue that decodes live previews."""

from .tab import ColorizeTab

__all__ = ["ColorizeTab"]
