"""bdlearn: Blended Diffusion, taught from first principles.

``edit(image, mask, prompt)`` edits the masked region of an image to match the prompt;
``load_world("toy" | "real")`` loads the models it runs on.
"""

from bdlearn.edit import EditResult, edit
from bdlearn.models import ModelWorld, load_world

__version__ = "0.1.0"
__all__ = ["EditResult", "ModelWorld", "edit", "load_world", "__version__"]
