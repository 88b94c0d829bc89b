"""Every bad argument to the notebook helpers a clear error (the fourth bad-input battery).

One test per case of the battery's report (its cases ``api_m_nb_...``), named after what it checks; each also
checks that a refused call leaves no figure open, and where the battery found a silently wrong result, the right one.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from bdlearn.machinery.inputs import read_image
from bdlearn.notebook import (
    EditorApp,
    animate_trajectory,
    check,
    claim,
    claim_greater,
    edit_figure,
    equation_figure,
    gallery_slider,
    mask_drawer,
    mask_overlay,
    mean_value,
    notebook_seed,
    preset_masks,
    show_images,
    similarity_heatmap,
    to_display,
    trajectory_grid,
    zero_shot_bars,
)
from bdlearn.notebook.claims import SEED_VARIABLE, parse_claim
from bdlearn.pipeline import edit

#: A picture HxWx3 in [0, 1], each value a whole number of 255ths (as a uint8 picture read as floats).
PICTURE = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.float64) / 255
MASK = np.zeros((32, 32), dtype=bool)
MASK[8:20, 10:22] = True


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every test starts without figures, and a refused call draws none (a notebook would show it blank)."""
    plt.close("all")
    yield
    assert not plt.get_fignums(), "a figure was left open"


@pytest.fixture(scope="module")
def result(world):
    """One edit of 3 steps with its trajectory: x_t has 4 frames of 1 edit."""
    return edit((PICTURE * 255).astype(np.uint8), MASK, "a red circle", world, respacing="10", skip=7, repetitions=1,
                num_augmentations=0, seed=0, return_trajectory=True, progress=False)


# ------------------------------------------------------------------------------------------------
# Silently wrong before
# ------------------------------------------------------------------------------------------------

def test_mask_drawer_reads_a_tensor_as_edit_does():
    tensor = torch.from_numpy(PICTURE).permute(2, 0, 1).float()  # [3, H, W] in [0, 1]
    picture = mask_drawer(tensor).picture
    assert np.array_equal(picture, read_image(tensor).astype(np.float32) / 255)  # edit()'s pixels
    assert np.abs(picture - PICTURE).max() < 1e-6  # not washed out
    with pytest.raises(ValueError, match=r"model format \[−1, 1\].*convert with \(x \+ 1\) / 2"):
        mask_drawer(tensor * 2 - 1)  # refused, as edit() refuses it


def test_edit_figure_refuses_top_0_and_draws_top_1(result):
    with pytest.raises(ValueError, match="top must be a whole number >= 1, got 0"):
        edit_figure(result, top=0)
    figure = edit_figure(result, top=1)
    assert len(figure.axes) == 3  # input, mask, the edit
    plt.close(figure)


def test_mask_overlay_refuses_alpha_above_1():
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\].*got 2"):
        mask_overlay(PICTURE, MASK, alpha=2)
    tinted = mask_overlay(PICTURE, MASK, alpha=1)
    assert np.allclose(tinted[MASK], (1.0, 0.2, 0.8)) and np.allclose(tinted[~MASK], PICTURE[~MASK])


def test_preset_masks_refuses_size_0():
    with pytest.raises(ValueError, match="size must be a whole number >= 1, got 0"):
        preset_masks(0)
    assert all(mask.shape == (1, 1) for mask in preset_masks(1).values())


def test_similarity_heatmap_refuses_labels_that_do_not_match():
    with pytest.raises(ValueError, match="3 images and 2 labels for a similarity of 2 rows and 2 columns"):
        similarity_heatmap(np.eye(2), [PICTURE] * 3, ["a", "b"])


def test_zero_shot_bars_refuses_top_0():
    with pytest.raises(ValueError, match="top must be a whole number >= 1, got 0"):
        zero_shot_bars([PICTURE], ["a", "b"], np.array([[0.5, 0.5]]), top=0)


def test_notebook_seed_refuses_a_default_that_is_not_a_seed(monkeypatch):
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    with pytest.raises(ValueError, match="default must be a whole number, got 'x'"):
        notebook_seed("x")
    with pytest.raises(ValueError, match=r"default must be in \[0, 2\*\*31\), got -5"):
        notebook_seed(-5)
    assert notebook_seed(np.int64(5)) == 5 and type(notebook_seed(np.int64(5))) is int


# ------------------------------------------------------------------------------------------------
# Tracebacks before
# ------------------------------------------------------------------------------------------------

def test_show_images_refuses_no_images():
    with pytest.raises(ValueError, match="show_images needs at least one image, got none"):
        show_images([])


def test_show_images_refuses_too_few_titles():
    with pytest.raises(ValueError, match="2 images but 1 titles: give one title per image"):
        show_images([PICTURE, PICTURE], titles=["a"])


def test_trajectory_grid_refuses_steps_and_columns_that_do_not_fit(result):
    with pytest.raises(ValueError, match=r"step of each of the 3 frames after the start \(x_t has 4 frames\); got 1"):
        trajectory_grid(result.x_t, steps=[100])
    with pytest.raises(ValueError, match="num_columns must be a whole number >= 1, got 0"):
        trajectory_grid(result.x_t, num_columns=0)
    plt.close(trajectory_grid(result.x_t, result.pred_xstart, result.steps, num_columns=4))  # an edit's own steps


def test_to_display_refuses_a_batch():
    with pytest.raises(ValueError, match=r"one image, a tensor \[3, H, W\]; got shape \[2, 3, 8, 8\]"):
        to_display(torch.rand(2, 3, 8, 8))


def test_mask_overlay_refuses_a_mask_of_another_size():
    with pytest.raises(ValueError, match=r"a mask of shape \(32, 32\) for a 64x64 image"):
        mask_overlay(np.zeros((64, 64, 3)), MASK)
    assert mask_overlay(PICTURE, torch.from_numpy(MASK)[None]).shape == (32, 32, 3)  # [1, H, W], as load_mask's
    assert mask_overlay(PICTURE[:1, :1], MASK[:1, :1]).shape == (1, 1, 3)  # one pixel (the drawer's brush)


def test_animate_trajectory_refuses_an_index_outside_the_batch(result):
    with pytest.raises(ValueError, match="index picks one of the 1 images of the batch, 0 to 0; got 5"):
        animate_trajectory(result.x_t, index=5)


def test_preset_masks_refuses_a_negative_size():
    with pytest.raises(ValueError, match="size must be a whole number >= 1, got -1"):
        preset_masks(-1)


def test_preset_masks_refuses_a_fractional_size():
    with pytest.raises(ValueError, match="size must be a whole number >= 1, got 3.5"):
        preset_masks(3.5)


def test_equation_figure_refuses_no_terms():
    with pytest.raises(ValueError, match=r"equation_figure needs at least one term \(a picture or a symbol\)"):
        equation_figure([])


# ------------------------------------------------------------------------------------------------
# The eighth battery: uint8 and 0..255 pictures, channels, shapes and values refused clearly
# ------------------------------------------------------------------------------------------------

def test_to_display_reads_uint8_at_its_own_scale_and_refuses_floats_up_to_255(result):
    full = result.full_size(0)  # HxWx3 uint8
    assert np.array_equal(to_display(full), to_display(full / 255))  # was almost all white
    assert np.array_equal(to_display(torch.from_numpy(full).permute(2, 0, 1)), to_display(full / 255))
    figure = show_images([full])
    assert np.array_equal(figure.axes[0].images[0].get_array(), to_display(full / 255))
    plt.close(figure)
    overshoot = PICTURE.copy()
    overshoot[0, 0] = (1 + 1e-7, 1.4, -0.4)  # arithmetic's overshoots: clipped, as before
    assert np.array_equal(to_display(overshoot), np.clip(overshoot, 0, 1).astype(np.float32))
    for refused in (lambda: to_display(full * 1.0), lambda: mask_overlay(PICTURE * 255, MASK),
                    lambda: equation_figure([full, "+", PICTURE * 255]), lambda: show_images([PICTURE * 255])):
        with pytest.raises(ValueError, match=r"float arrays in \[0, 1\]; this one holds \[.*, 25\d\]: values in "
                                             r"0\.\.255\? divide by 255"):
            refused()
    with pytest.raises(ValueError, match=r"holds \[-1, 1\]: the model's \[−1, 1\]\? convert with \(x \+ 1\) / 2"):
        to_display(PICTURE * 0 + np.array([-1.0, 0.0, 1.0]))


def test_to_display_refuses_a_tensor_of_5_channels():
    with pytest.raises(ValueError, match=r"one image, a tensor \[3, H, W\]; got shape \[5, 32, 32\] \(a picture has "
                                         r"3 channels"):
        to_display(torch.rand(5, 32, 32))
    with pytest.raises(ValueError, match=r"one image, an array HxWx3; got shape \[32, 32, 5\]"):
        show_images([np.random.default_rng(0).random((32, 32, 5))])


def test_to_display_shows_a_mask_or_a_grey_picture_grey():
    grey = np.repeat(MASK[..., None], 3, axis=-1).astype(np.float32)
    for mask in (MASK, MASK[..., None], MASK.astype(np.uint8) * 255):
        assert np.array_equal(to_display(mask), grey)
    assert np.array_equal(to_display(torch.from_numpy(MASK)[None].float() * 2 - 1), grey)  # [1, H, W] in [−1, 1]


def test_animate_trajectory_refuses_an_interval_of_0():
    trajectory = torch.rand(4, 1, 3, 8, 8) * 2 - 1
    with pytest.raises(ValueError, match=r"interval must be at least 1, got 0 \(milliseconds between frames\)"):
        animate_trajectory(trajectory, interval=0)
    with pytest.raises(ValueError, match=r"interval must be an integer, got '80' \(str\)"):
        animate_trajectory(trajectory, interval="80")


def test_zero_shot_bars_refuses_probabilities_that_do_not_fit_images_and_labels():
    with pytest.raises(ValueError, match=r"probabilities of shape \[1, 3\] for 1 images and 2 labels: give \[number "
                                         r"of images, number of labels\]"):
        zero_shot_bars([PICTURE], ["a", "b"], torch.tensor([[0.2, 0.3, 0.5]]))


def test_mean_value_refuses_a_string():
    with pytest.raises(ValueError, match=r"values must be numbers or bools .*got 'abc' \(str\)"):
        mean_value("abc")
    with pytest.raises(ValueError, match=r"values must be numbers or bools .*got \['1', '2'\] \(list\)"):
        mean_value(["1", "2"])  # NumPy would read these as 1.0 and 2.0


def test_animate_trajectory_names_its_own_argument_for_a_4d_tensor():
    with pytest.raises(ValueError, match=r"animate_trajectory's x_t must be a trajectory, a tensor \[steps, B, 3, H, "
                                         r"W\].*got shape \[1, 3, 8, 8\]"):
        animate_trajectory(torch.rand(1, 3, 8, 8))


# ------------------------------------------------------------------------------------------------
# The ninth battery: complex answers, claims that must read back, figure options, sizes
# ------------------------------------------------------------------------------------------------

def test_check_compares_complex_values_with_their_imaginary_part(capsys):
    assert check("x", torch.tensor([1 + 1j]), torch.tensor([1 - 1j])) == "wrong"  # was "exact"
    assert check("x", torch.tensor([1 + 1j]), torch.tensor([1.0])) == "wrong"
    assert check("x", torch.tensor([1 + 0j]), torch.tensor([1.0])) == "exact"
    assert capsys.readouterr().out.splitlines()[-1] == "x: exact"


def test_claim_refuses_a_statement_that_cannot_be_read_back(capsys):
    for statement in ("", "  ", "a\nb"):
        with pytest.raises(ValueError, match="the claim's statement (is blank|must fit on one line)"):
            claim(statement, True, "e")
    with pytest.raises(ValueError, match="the claim's evidence must fit on one line"):
        claim("a", True, "e\nf")
    assert not capsys.readouterr().out  # nothing printed
    assert parse_claim(str(claim("a — b", False, "e (f)"))) == claim("a — b", False, "e (f)")


def test_claim_greater_refuses_nan_samples():
    with pytest.raises(ValueError, match=r"a must be finite numbers; it holds 1 NaN or infinite value\(s\) of 2"):
        claim_greater("x", [1, float("nan")], [0, 0])  # was a firm "does not hold"
    with pytest.raises(ValueError, match="b must be finite numbers"):
        claim_greater("x", [1, 2], [0, float("inf")])


def test_trajectory_grid_refuses_a_pred_xstart_of_another_run(result):
    other_size = torch.rand(3, 1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"pred_xstart must hold the x̂_0 of each of x_t's 3 steps, shape \[3, 1, 3, "
                                         r"32, 32\] for an x_t of shape \[4, 1, 3, 32, 32\]; got \[3, 1, 3, 16, 16\]"):
        trajectory_grid(result.x_t, other_size)
    with pytest.raises(ValueError, match=r"got \[4, 1, 3, 32, 32\]"):
        trajectory_grid(result.x_t, result.x_t)  # one frame too many


def test_show_images_refuses_ncols_0_and_titles_as_one_string():
    with pytest.raises(ValueError, match="ncols must be a whole number >= 1, got 0"):
        show_images([PICTURE], ncols=0)  # was drawn as if unset
    with pytest.raises(TypeError, match=r"titles must be a list of strings, one per image, got 'ab' \(str\)"):
        show_images([PICTURE, PICTURE], titles="ab")  # was split into 'a' and 'b'
    with pytest.raises(TypeError, match="titles must be a list of strings"):
        zero_shot_bars([PICTURE], ["a", "b"], np.array([[0.5, 0.5]]), titles="a")


def test_similarity_heatmap_refuses_annotate_as_a_string():
    with pytest.raises(ValueError, match=r"annotate must be True or False, got 'no' \(str\)"):
        similarity_heatmap(np.eye(1), [PICTURE], ["a"], annotate="no")  # was taken as true


def test_mask_overlay_refuses_a_colour_in_0_to_255():
    with pytest.raises(ValueError, match=r"colour must be in \[0, 1\], got 255 .*divide 0\.\.255 values by 255"):
        mask_overlay(PICTURE, MASK, colour=(255, 0, 0))  # was values up to 115
    with pytest.raises(ValueError, match=r"colour must be three numbers \(red, green, blue\) in \[0, 1\], got 'red'"):
        mask_overlay(PICTURE, MASK, colour="red")
    tinted = mask_overlay(PICTURE, MASK, colour=np.array((255, 0, 0)) / 255, alpha=1)
    assert np.allclose(tinted[MASK], (1, 0, 0))


def test_figures_refuse_a_size_that_is_not_positive_and_ncols_that_is_not_whole(result):
    for refused in (lambda: trajectory_grid(result.x_t, size=0), lambda: show_images([PICTURE], size=0),
                    lambda: edit_figure(result, size=0), lambda: equation_figure([PICTURE], size=-1),
                    lambda: similarity_heatmap(np.eye(1), [PICTURE], ["a"], size=float("nan")),
                    lambda: animate_trajectory(result.x_t, size=0)):
        with pytest.raises(ValueError, match=r"size must be a finite number > 0 \(inches per picture\)"):
            refused()
    for ncols in (-1, 1.5):
        with pytest.raises(ValueError, match=f"ncols must be a whole number >= 1, got {ncols}"):
            show_images([PICTURE, PICTURE], ncols=ncols)


def test_editor_app_takes_every_respacing_edit_takes(world):
    app = EditorApp(world, PICTURE, MASK, respacing="ddim10", skip=5)
    assert app.steps.value == 10 and app.settings()["respacing"] == "ddim10"  # was int('ddim10')
    assert ("ddim10", 10) in app.steps.options and ("10", 10) not in app.steps.options and app.skip.max == 9
    assert EditorApp(world, PICTURE, MASK, respacing="5,5", skip=5).settings()["respacing"] == "5,5"
    assert EditorApp(world, PICTURE, MASK, respacing=20, skip=5).settings()["respacing"] == "20"
    with pytest.raises(ValueError, match=r"respacing 'abc': bad respacing 'abc': expected 'ddimN', 'N'"):
        EditorApp(world, PICTURE, MASK, respacing="abc")
    with pytest.raises(ValueError, match=r"respacing 'abc'"):  # the same words as edit()'s
        edit(PICTURE, MASK, "a red circle", world, respacing="abc")


def test_check_refuses_a_negative_rtol_and_a_nan_atol():
    with pytest.raises(ValueError, match="rtol must be at least 0, got -1"):
        check("x", 1.0, 1.0000001, rtol=-1)
    with pytest.raises(ValueError, match=r"atol must be a finite number, got nan \(float\)"):
        check("x", 1.0, 1.0000001, atol=float("nan"))


def test_edit_figure_refuses_what_is_not_an_edit_result():
    with pytest.raises(TypeError, match="edit_figure takes an EditResult .*, got str"):
        edit_figure("not a result")


def test_similarity_heatmap_refuses_a_similarity_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"similarity must be a matrix \[number of images, number of labels\].*got "
                                         r"shape \[3\]"):
        similarity_heatmap(torch.rand(3), [PICTURE], ["a", "b", "c"])


def test_zero_shot_bars_shows_all_labels_when_top_exceeds_them():
    figure = zero_shot_bars([PICTURE], ["a", "b"], np.array([[0.3, 0.7]]), top=5)  # was matplotlib's shape error
    assert [tick.get_text() for tick in figure.axes[1].get_yticklabels()] == ["b", "a"]
    plt.close(figure)


def test_gallery_slider_refuses_bytes_that_are_not_a_picture():
    with pytest.raises(ValueError, match=r"the bytes of 0 are not a picture \(b'junk' \(bytes\)\)"):
        gallery_slider({0: b"junk"})


def test_to_display_reads_uint16_at_its_own_scale():
    full = (PICTURE * 255).astype(np.uint8)
    assert np.allclose(to_display(full.astype(np.uint16) * 257), to_display(full))  # was "divide by 255"
    assert np.allclose(to_display(torch.from_numpy(full.astype(np.uint16) * 257).permute(2, 0, 1)), to_display(full))
    with pytest.raises(ValueError, match=r"values in 0\.\.65535 \(16 bits\)\? divide by 65535"):
        to_display(full * 257.0)


def test_equation_figure_and_zero_shot_bars_refuse_lists_of_another_length():
    with pytest.raises(ValueError, match="3 terms but 2 captions: give one caption per term"):
        equation_figure([PICTURE, "+", PICTURE], ["a", "b"])
    with pytest.raises(ValueError, match=r"1 images but 2 truths: give one true label \(or None\) per image"):
        zero_shot_bars([PICTURE], ["a", "b"], np.array([[0.5, 0.5]]), truth=["a", "b"])
