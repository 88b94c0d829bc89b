"""Blended Diffusion's extending augmentations (paper section 4.1, "Extending augmentations").

Guiding a diffusion model with CLIP's gradient alone invites adversarial results: the pixels
change just enough to fool CLIP without showing the prompt. Blended Diffusion therefore
shows CLIP several copies of the (masked) predicted image x̂_0, each under a different random
projective transformation, and averages the CLIP loss over them; a change that convinces
CLIP under all the transforms has to be a real, visible one. The paper uses 16 copies; the
official code uses 8, the first of them left as it is.

:func:`extending_augmentations` makes those copies, warping each image and its mask with the
same transform so that the mask still marks the edited region in every view.

The official code augments differently (:mod:`bdlearn.editing.variants`): it masks the image and
pools it to CLIP's size first, then warps the copies alone. :func:`draw_warp_parameters` draws
those warps the way its kornia modules do and :func:`warp_copies` applies them, so that warps
recorded from the official code (:class:`WarpParameters`) replay exactly.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from kornia.augmentation import AugmentationSequential, RandomAffine, RandomPerspective
from kornia.geometry.transform import warp_affine, warp_perspective

from bdlearn.checks import checked_integer, checked_real, checked_seed
from bdlearn.clip.checks import check_images
from bdlearn.editing.checks import check_masks


@contextmanager
def _seeded(seed: int | torch.Generator | None) -> Iterator[None]:
    """Run the block on a private copy of torch's CPU random state, seeded from ``seed``.

    kornia draws its random transform parameters from torch's global CPU generator, so seeding
    that generator inside :func:`torch.random.fork_rng` makes them reproducible without
    disturbing anyone else's random numbers. Only the CPU generator is seeded:
    ``torch.manual_seed`` would also reseed every CUDA device's generator, which ``fork_rng``
    (given no devices) does not restore. ``None`` leaves the global generator as it is.
    """
    if seed is None:
        yield
        return
    if isinstance(seed, torch.Generator):
        seed = int(torch.randint(2**62, (), generator=seed))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def extending_augmentations(
    images: torch.Tensor,
    masks: torch.Tensor,
    num_copies: int,
    seed: int | torch.Generator | None = None,
    degrees: float = 15.0,
    translate: float = 0.1,
    distortion: float = 0.7,
    p: float = 0.7,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_copies`` views of each image and its mask; every view but the first is randomly warped.

    Args:
        images: [B, C, H, W] images (gradients flow back to them through the warps).
        masks: [B, 1, H, W] masks (bool or float) of the region each image is edited in.
        num_copies: views per image, the original included: an int of at least 0. 0 and 1 both
            return just the originals (0 means no augmentation, as ``num_augmentations=0`` does
            for an edit).
        seed: an int in [0, 2**32) or a ``torch.Generator`` for reproducible transforms; ``None``
            draws them from torch's global random state.
        degrees, translate: the random affine transform: a rotation of up to ``degrees`` (at least 0)
            and a shift of up to ``translate`` of the image side, in [0, 1] (the official code's values).
        distortion: how far the random perspective transform may move the image corners, as a
            fraction of half the image side, in [0, 1].
        p: the probability, in [0, 1], of applying each of the two transforms to a copy.

    Returns:
        ``(views, view_masks)`` of shapes [num_copies·B, C, H, W] and [num_copies·B, 1, H, W],
        copy-major: view ``k·B + b`` is copy ``k`` of image ``b``, and the first B views are the
        inputs unchanged. The masks come back as floats in the images' dtype, warped with the
        same transform as their images (nearest-neighbour, so they stay 0 or 1). Pixels warped
        in from outside the frame are 0 in both.
    """
    check_images("images", images)
    check_masks("masks", masks, images)
    num_copies = checked_integer("num_copies", num_copies, 0, hint=" (views per image, the original included; "
                                 "0 or 1: no augmentation)")
    if seed is not None and not isinstance(seed, torch.Generator):
        seed = checked_seed(seed)
    checked_real("degrees", degrees, 0)
    checked_real("translate", translate, 0, 1)
    checked_real("distortion", distortion, 0, 1)
    checked_real("p", p, 0, 1)
    masks = masks.to(images.dtype)
    if num_copies <= 1:
        return images, masks
    warp = AugmentationSequential(
        RandomAffine(degrees=degrees, translate=(translate, translate), p=p),
        RandomPerspective(distortion_scale=distortion, p=p),
        data_keys=["input", "mask"],
    )
    with _seeded(seed):
        warped_images, warped_masks = warp(images.repeat(num_copies - 1, 1, 1, 1),
                                           masks.repeat(num_copies - 1, 1, 1, 1))
    return torch.cat([images, warped_images]), torch.cat([masks, warped_masks])


@dataclass(frozen=True)
class WarpParameters:
    """The random warps of N augmented copies, as the official code's kornia modules draw them.

    ``affine`` and ``perspective`` are [N, 3, 3] matrices; ``affine_applied`` and
    ``perspective_applied`` [N] say which copies each transform touches (kornia's ``batch_prob``:
    each is applied with probability 0.7; the others pass unchanged).
    """

    affine: torch.Tensor
    affine_applied: torch.Tensor
    perspective: torch.Tensor
    perspective_applied: torch.Tensor

    def to(self, like: torch.Tensor) -> WarpParameters:
        """The same warps on ``like``'s device, the matrices in its dtype."""
        return WarpParameters(self.affine.to(like), self.affine_applied.to(like.device).bool(),
                              self.perspective.to(like), self.perspective_applied.to(like.device).bool())

    @classmethod
    def from_fixture(cls, tensors: dict[str, torch.Tensor], step: int) -> WarpParameters:
        """The warps a conformance fixture recorded at step ``step`` (``aug.{step}.*``)."""
        def get(name: str) -> torch.Tensor:
            return tensors[f"aug.{step}.{name}"]

        return cls(get("affine_matrix"), get("affine_params.batch_prob") > 0.5, get("perspective_matrix"),
                   get("perspective_params.batch_prob") > 0.5)


def _official_transforms() -> tuple[RandomAffine, RandomPerspective]:
    """The official code's augmentations: affine (±15°, translation 0.1, border padding), then
    perspective (distortion 0.7, zero padding), each with probability 0.7."""
    return (RandomAffine(degrees=15, translate=(0.1, 0.1), p=0.7, padding_mode="border"),
            RandomPerspective(distortion_scale=0.7, p=0.7))


def draw_warp_parameters(count: int, size: int, seed: int | torch.Generator | None,
                         like: torch.Tensor) -> WarpParameters:
    """Draw the official augmentations' random warps of ``count`` copies of side ``size`` (kornia's
    parameter draws, affine then perspective, on a private random state seeded from ``seed``)."""
    affine, perspective = _official_transforms()
    shape = torch.Size((count, 3, size, size))
    probe = like.new_zeros(shape)
    with _seeded(seed):
        affine_params = affine.forward_parameters(shape)
        perspective_params = perspective.forward_parameters(shape)
    return WarpParameters(
        affine.compute_transformation(probe, affine_params, affine.flags), affine_params["batch_prob"] > 0.5,
        perspective.compute_transformation(probe, perspective_params, perspective.flags),
        perspective_params["batch_prob"] > 0.5).to(like)


def warp_copies(copies: torch.Tensor, warps: WarpParameters) -> torch.Tensor:
    """Apply ``warps`` to ``copies`` [N, C, S, S]: the affine warp (border padding), then the
    perspective warp (zero padding), each only on the copies it is applied to (differentiable)."""
    size = tuple(copies.shape[-2:])

    def chosen(applied: torch.Tensor, warped: torch.Tensor, unchanged: torch.Tensor) -> torch.Tensor:
        return torch.where(applied.view(-1, 1, 1, 1), warped, unchanged)

    affine = warp_affine(copies, warps.affine[:, :2], size, mode="bilinear", padding_mode="border",
                         align_corners=False)
    copies = chosen(warps.affine_applied, affine, copies)
    perspective = warp_perspective(copies, warps.perspective, size, mode="bilinear", padding_mode="zeros",
                                   align_corners=False)
    return chosen(warps.perspective_applied, perspective, copies)
