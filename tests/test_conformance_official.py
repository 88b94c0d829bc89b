"""``variant="official"`` against the official Blended Diffusion code, step for step.

The fixtures are in ../shared/reference/blended_diffusion.

Each case is an edit the official code ran in float64, with every random draw recorded (the
fixtures' README says what ran and in which order). bdlearn replays it through its own loop, fed
the recorded noise (:class:`~bdlearn.editing.noise.RecordedNoise`) and kornia's recorded warps:

* kornia's recorded warps of the augmented copies, replayed to the last bit;
* teacher-forced, each step from the recorded x_t: the guidance gradient, the step's mean,
  variance and x̂_0, the sample, the noised background and the blended x_{t−1} (atol 1e-10), the
  CLIP distances (1e-12);
* free-running from the recorded start noise: every x_t (atol 1e-9), the output (the last x̂_0
  with the input put back outside the mask), the saved uint8 PNGs (equal) and the ranking order.

Cases are the folder's ``case_*.safetensors`` (with their JSON), named by file stem
(``pytest -k case_A``), plus those in the folders of ``BDLEARN_OFFICIAL_CASES`` (os.pathsep-separated).
Skipped with a reason where ../shared is absent.
"""
from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.diffusion.unet import UNetConfig
from bdlearn.editing.augmentations import WarpParameters, warp_copies
from bdlearn.editing.blending import blend
from bdlearn.editing.guidance import GuidanceWeights
from bdlearn.editing.loop import edit_step, guided_edit_loop
from bdlearn.editing.noise import RecordedNoise
from bdlearn.editing.ranking import rank_edits
from bdlearn.editing.variants import VARIANTS
from bdlearn.worlds.checkpoint import load_unet
from bdlearn.worlds.toy_clip import load_toy_clip
from tests.conftest import REFERENCE_DIR

OFFICIAL_DIR = REFERENCE_DIR.parent / "blended_diffusion"
STEP_ATOL = 1e-10
DISTANCE_ATOL = 1e-12
FREE_RUNNING_ATOL = 1e-9


def _case_files() -> list[Path]:
    folders = [OFFICIAL_DIR] + [Path(each) for each in os.environ.get("BDLEARN_OFFICIAL_CASES", "").split(os.pathsep)
                                if each]
    return sorted({path for folder in folders if folder.is_dir() for path in folder.glob("case_*.safetensors")})


CASES = _case_files()


@cache
def _models() -> tuple:
    """The fixtures' UNet (adm_small, random weights) and the toy CLIP, both in float64."""
    config = json.loads((REFERENCE_DIR / "adm_small_config.json").read_text())
    unet = load_unet(REFERENCE_DIR / "adm_small.safetensors", UNetConfig.from_dict(config["unet_kwargs"])).double()
    clip = load_toy_clip()
    clip.model.double()
    return unet, clip


@cache
def _case(path: Path) -> tuple[dict, dict]:
    return json.loads(path.with_suffix(".json").read_text()), load_file(path)


def _setup(path: Path):
    card, tensors = _case(path)
    settings = card["settings"]
    unet, clip = _models()
    schedule = DiffusionSchedule.create(steps=settings["diffusion_steps"], schedule=settings["noise_schedule"],
                                        respacing=settings["timestep_respacing"])
    local = settings["local_clip_guided_diffusion"]
    weights = GuidanceWeights(clip=settings["clip_guidance_lambda"], range=settings["range_lambda"],
                              background=settings["l2_sim_lambda"] if local else 0.0,
                              lpips=settings["lpips_sim_lambda"] if local else 0.0,
                              num_augmentations=settings["aug_num"], clip_input="official_mix")
    return card, tensors, unet, clip, schedule, weights, "local" if local else "blended"


def _close(actual: torch.Tensor, expected: torch.Tensor, atol: float, what: str) -> None:
    difference = (actual.double() - expected.double()).abs().max().item()
    assert difference <= atol, f"{what}: max difference {difference:.3g} > {atol:g}"


needs_fixtures = pytest.mark.skipif(not CASES, reason=f"no official fixtures at {OFFICIAL_DIR} (they live in ../shared "
                                                      "beside the project's clone; a user's own clone has none)")


@needs_fixtures
def test_the_toy_clip_is_the_one_the_fixtures_ran(tmp_path):
    import hashlib

    from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS

    card, _ = _case(CASES[0])
    assert hashlib.sha256(TOY_CLIP_WEIGHTS.read_bytes()).hexdigest() == card["clip"]["weights_sha256"]


@needs_fixtures
@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_each_step_teacher_forced(path):
    card, tensors, unet, clip, schedule, weights, method = _setup(path)
    x0 = tensors["input.init_image"]
    batch = tensors["x_t"].shape[1]
    masks = tensors["input.mask"].expand(batch, -1, -1, -1)
    text = tensors["input.text_embed"]
    _close(clip.encode_text([card["settings"]["prompt"]]), torch.nn.functional.normalize(text, dim=-1), 1e-12,
           "the prompt's embedding (normalised)")
    for k, step in enumerate(tensors["step.t"].tolist()):
        noise = RecordedNoise.from_fixture(tensors, blended=method == "blended", steps=[k], with_start=False)
        out = edit_step(unet, clip, schedule, tensors["x_t"][k], step, x0.expand(batch, -1, -1, -1), masks, text,
                        weights=weights, noise=noise, method=method, variant=VARIANTS["official"])
        where = f"{path.stem} step {k} (t = {step})"
        _close(out.prediction.grad, tensors["step.grad"][k], STEP_ATOL, f"{where}: the guidance gradient")
        _close(out.prediction.pmv.mean, tensors["step.mean"][k], STEP_ATOL, f"{where}: the mean")
        _close(out.prediction.pmv.log_variance, tensors["step.log_variance"][k], STEP_ATOL, f"{where}: log Σ")
        _close(out.prediction.pmv.pred_xstart, tensors["step.pred_xstart"][k], STEP_ATOL, f"{where}: x̂_0")
        _close(out.prediction.clip_distance, tensors["step.clip_distance"][k], DISTANCE_ATOL, f"{where}: D_CLIP")
        _close(out.sample, tensors["step.sample"][k], STEP_ATOL, f"{where}: the sample")
        if method == "blended":
            _close(out.background, tensors["step.background"][k], STEP_ATOL, f"{where}: the noised background")
        _close(out.x_next, tensors["x_t"][k + 1], STEP_ATOL, f"{where}: x_(t-1)")
        assert noise.used == len(noise.draws), f"{where}: not every recorded draw was used"


@needs_fixtures
@pytest.mark.parametrize("path", [path for path in CASES if "aug.0.affine_matrix" in _case(path)[1]],
                         ids=lambda path: path.stem)
def test_kornias_recorded_warps_replay_exactly(path):
    """The official augmentations' copies, from the recorded CLIP mix and warps, equal kornia's to the last bit."""
    card, tensors = _case(path)
    batch = tensors["x_t"].shape[1]
    masks = tensors["input.mask"].expand(batch, -1, -1, -1)
    for k in range(tensors["step.t"].shape[0]):
        fac = tensors["step.fac"][k]
        x_in = tensors["step.pred_xstart"][k] * fac + tensors["x_t"][k] * (1 - fac)  # the official CLIP input
        pooled = torch.nn.functional.adaptive_avg_pool2d(x_in * masks, card["settings"]["clip_input_resolution"])
        copies = pooled.repeat(card["settings"]["aug_num"] - 1, 1, 1, 1)
        warped = warp_copies(copies, WarpParameters.from_fixture(tensors, k))
        assert torch.equal(warped, tensors[f"aug.{k}.perspective_output"]), f"{path.stem} step {k}"


@needs_fixtures
@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_free_running_replay_and_the_saved_images(path):
    card, tensors, unet, clip, schedule, weights, method = _setup(path)
    x0, mask = tensors["input.init_image"], tensors["input.mask"]
    batch = tensors["x_t"].shape[1]
    out = guided_edit_loop(unet, clip, schedule, x0, mask, tensors["input.text_embed"], batch=batch,
                           skip=card["settings"]["skip_timesteps"], weights=weights, method=method,
                           noise=RecordedNoise.from_fixture(tensors, blended=method == "blended"), variant="official",
                           keep_trajectory=True, progress=False)
    for k in range(out.x_t.shape[0]):
        _close(out.x_t[k], tensors["x_t"][k], FREE_RUNNING_ATOL, f"{path.stem}: x_t entering step {k}")
    _close(out.edits, tensors["final.pred_xstart"], FREE_RUNNING_ATOL, f"{path.stem}: the output, the last x̂_0")
    final = out.edits if method == "local" else blend(out.edits, x0.expand_as(out.edits), mask.expand_as(out.edits))
    _close(final, tensors["final.enforced"], FREE_RUNNING_ATOL, f"{path.stem}: the output with the input outside")
    saved = ((final + 1) / 2).clamp(0, 1)
    _close(saved, tensors["final.saved_01"], FREE_RUNNING_ATOL, f"{path.stem}: the [0, 1] image saved")
    png = (saved * 255).to(torch.uint8).permute(0, 2, 3, 1)  # ×255 truncated, as the official PNG writer does
    assert torch.equal(png, tensors["final.saved_uint8"]), f"{path.stem}: the saved PNGs differ"
    order, distances = rank_edits(clip, final, mask, tensors["input.text_embed"], variant="official")
    _close(distances, tensors["final.distance"], FREE_RUNNING_ATOL, f"{path.stem}: the ranking distances")
    assert order.tolist() == tensors["final.ranking_order"].tolist() == card["final"]["ranking_order_best_first"]
