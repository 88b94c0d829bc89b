"""Blended Diffusion's extending augmentations: copies, shared transforms, seeding, gradients."""
from __future__ import annotations

import pytest
import torch

from bdlearn.editing.augmentations import extending_augmentations


def _inputs(batch: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    masks = torch.zeros(batch, 1, size, size, dtype=torch.bool)
    masks[0, :, 6:20, 8:24] = True
    masks[1, :, 12:28, 4:14] = True
    return images, masks


def test_shapes_and_first_copy_unchanged() -> None:
    images, masks = _inputs()
    views, view_masks = extending_augmentations(images, masks, 4, seed=0)
    assert views.shape == (8, 3, 32, 32) and view_masks.shape == (8, 1, 32, 32)
    assert torch.equal(views[:2], images)
    assert torch.equal(view_masks[:2], masks.float())
    assert set(view_masks.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(views[2:], images.repeat(3, 1, 1, 1))


@pytest.mark.parametrize("num_copies", [0, 1])
def test_no_copies_returns_the_originals(num_copies: int) -> None:
    images, masks = _inputs()
    views, view_masks = extending_augmentations(images, masks, num_copies, seed=0)
    assert torch.equal(views, images) and torch.equal(view_masks, masks.float())


def test_same_transform_on_image_and_mask() -> None:
    _, masks = _inputs()
    mask_images = masks.float().repeat(1, 3, 1, 1)  # an image that shows its own mask
    views, view_masks = extending_augmentations(mask_images, masks, 8, seed=1)
    moved = (view_masks[2:] != masks.float().repeat(7, 1, 1, 1)).any(dim=(1, 2, 3))
    assert moved.sum() >= 7  # most copies really are warped
    # the bilinearly warped image, thresholded, is the nearest-neighbour warped mask up to edge pixels
    disagree = ((views[:, :1] > 0.5).float() != view_masks).float().mean(dim=(1, 2, 3))
    assert disagree.max() < 0.02


def test_seeded_and_reproducible() -> None:
    images, masks = _inputs()
    first = extending_augmentations(images, masks, 4, seed=7)
    again = extending_augmentations(images, masks, 4, seed=7)
    other = extending_augmentations(images, masks, 4, seed=8)
    from_generator = extending_augmentations(images, masks, 4, seed=torch.Generator().manual_seed(3))
    from_same_generator = extending_augmentations(images, masks, 4, seed=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])
    assert torch.equal(from_generator[0], from_same_generator[0])


def test_seed_leaves_global_random_state_alone() -> None:
    images, masks = _inputs()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    extending_augmentations(images, masks, 4, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_gradient_flows_to_images() -> None:
    images, masks = _inputs()
    images.requires_grad_(True)
    views, view_masks = extending_augmentations(images, masks, 4, seed=0)
    (views * view_masks).sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_rejects_bad_shapes() -> None:
    images, masks = _inputs()
    with pytest.raises(ValueError):
        extending_augmentations(images, masks[:1], 4)
    with pytest.raises(ValueError):
        extending_augmentations(images, masks.repeat(1, 3, 1, 1), 4)
    with pytest.raises(ValueError):
        extending_augmentations(images, masks, -1)


def test_an_edit_leaves_the_global_generators_as_they_were(world, monkeypatch):
    """Seeded augmentations use a private copy of the CPU generator and never reseed CUDA's."""
    from bdlearn.pipeline import edit

    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: cuda_seeds.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: cuda_seeds.append(seed))
    image, mask = torch.rand(32, 32, 3), torch.zeros(32, 32, dtype=torch.bool)
    mask[8:20, 8:20] = True
    before = torch.random.get_rng_state()
    edit(image.numpy(), mask.numpy(), "a red circle", world, respacing="10", skip=7, num_augmentations=4,
         repetitions=1, progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert cuda_seeds == [], "an edit reseeded CUDA's generators"
