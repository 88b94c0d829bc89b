"""The names a user picks from (methods, variants, samplers, distances, CLIP inputs, windows, worlds), and the seeds.

Each is a ``Literal`` type, the one place its choices are written: the code that takes an option
declares it with this type, :mod:`bdlearn.machinery.settings` checks a value against
``typing.get_args`` of it, and the command line lists the same names. This module imports nothing,
so ``bdlearn --help`` can list them before torch is loaded.
"""
from __future__ import annotations

from typing import Literal

#: Blended Diffusion, its baseline Local CLIP-guided diffusion, or SDEdit's noise-and-denoise of the whole
#: picture (beyond the paper) (:mod:`bdlearn.editing.loop`).
Method = Literal["blended", "local", "sdedit"]
#: The method as the paper describes it, or as the official code computes it (:mod:`bdlearn.editing.variants`).
Variant = Literal["paper", "official"]
#: Ancestral DDPM steps, or DDIM's (:mod:`bdlearn.diffusion.reverse`).
Sampler = Literal["ddpm", "ddim"]
#: How CLIP's embeddings are compared (:mod:`bdlearn.clip.bundle`).
Distance = Literal["spherical", "cosine"]
#: What CLIP sees at each step: x̂_0 (the paper) or the official code's mix with x_t (:mod:`bdlearn.editing.guidance`).
ClipInput = Literal["pred_xstart", "official_mix"]
#: The square of a photo the model edits: around the mask, or the whole picture (:mod:`bdlearn.machinery.window`).
WindowFit = Literal["mask", "image"]
#: The named model worlds (:data:`bdlearn.worlds.load.WORLDS`).
WorldName = Literal["toy", "real"]

#: Seeds run from 0 to SEED_LIMIT - 1: the CPU generator that draws an edit's noise keeps 32 bits of a seed.
SEED_LIMIT = 2**32

#: :func:`bdlearn.edit`'s keyword-only options, by name (a test checks them against its signature), so that
#: ``bdlearn eval run --method NAME:KEY=VALUE`` can check KEY before torch is loaded.
EDIT_OPTIONS = ("method", "variant", "respacing", "skip", "sampler", "eta", "num_augmentations", "repetitions",
                "batch_size", "clip_weight", "range_weight", "background_weight", "distance", "clip_input",
                "clip_denoised", "invert_mask", "window", "seed", "resample", "jump", "return_trajectory", "progress")
