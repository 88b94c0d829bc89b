"""bdlearn: Blended Diffusion, taught from first principles."""

__version__ = "0.1.0"
