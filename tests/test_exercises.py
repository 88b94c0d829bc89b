"""The exercise checker: its verdicts, and the slips its "wrong" lines name."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bdlearn.notebook.exercises import check


def printed(capsys: pytest.CaptureFixture[str], name: str) -> str:
    """The one line ``check`` printed, without its ``"<name>: "`` prefix."""
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{name}: ")
    return lines[0][len(name) + 2:]


def test_exact_and_close_keep_the_notebooks_contract(capsys):
    reference = torch.linspace(0.1, 1.0, 5)
    assert check("exercise 1", reference.clone(), reference) in ("exact", "close")
    assert printed(capsys, "exercise 1") == "exact"
    assert check("exercise 2", reference * (1 + 1e-6), reference) == "close"
    assert printed(capsys, "exercise 2").startswith("close (max difference ")
    assert check("exercise 3", reference + 1, reference) == "wrong"
    assert printed(capsys, "exercise 3").startswith("wrong")


@pytest.mark.parametrize("mine, reference", [
    (np.arange(4.0)[::-1], [3.0, 2.0, 1.0, 0.0]),  # a numpy view with a negative stride
    ([1, 2, 3], torch.tensor([1, 2, 3])),
    (2.5, torch.tensor(2.5)),
    (True, True),
    (np.ones((2, 2), dtype=bool), torch.ones(2, 2)),  # a bool mask against a float one
    (torch.ones(3, requires_grad=True) * 2, np.full(3, 2.0, dtype=np.float32)),
    (torch.zeros(0), []),
])
def test_inputs_of_every_kind(capsys, mine, reference):
    assert check("kinds", mine, reference) == "exact"
    assert printed(capsys, "kinds") == "exact"


def test_none_asks_about_a_forgotten_return(capsys):
    assert check("ex", None, torch.ones(3)) == "wrong"
    assert printed(capsys, "ex") == "wrong: your answer is None — did you forget `return`?"


@pytest.mark.parametrize("mine, type_name", [
    ("0.5", "str"), ({0: 1}, "dict"), (object(), "object"), ([torch.ones(2), torch.ones(2)], "list of Tensor"),
])
def test_an_answer_that_is_no_number_names_its_type(capsys, mine, type_name):
    assert check("ex", mine, torch.ones(4, 3)) == "wrong"
    assert printed(capsys, "ex") == (
        f"wrong: expected a tensor/array/number like the reference (shape (4, 3)), got {type_name}")


def test_shape_transposed(capsys):
    reference = torch.randn(3, 4)
    assert check("ex", reference.T, reference) == "wrong"
    assert printed(capsys, "ex") == ("wrong: your answer has shape (4, 3), the reference (3, 4): "
                                     "the same entries transposed — your answer's .T equals the reference")


def test_shape_dims_permuted(capsys):
    reference = torch.randn(2, 3, 5, 5)  # channels first; the answer is channels last
    check("ex", reference.permute(0, 2, 3, 1), reference)
    line = printed(capsys, "ex")
    assert line.startswith("wrong: your answer has shape (2, 5, 5, 3), the reference (2, 3, 5, 5): ")
    assert line.endswith("your answer's .permute(0, 3, 1, 2) equals the reference")


def test_shape_reshaped(capsys):
    reference = torch.arange(12).reshape(3, 4)
    check("ex", reference.reshape(4, 3), reference)
    assert printed(capsys, "ex").endswith(
        "the same entries in another shape — your answer's .reshape(3, 4) equals the reference")


def test_shape_extra_dimension_of_size_one(capsys):
    reference = torch.randn(3, 4)
    check("ex", reference[None], reference)
    assert printed(capsys, "ex") == ("wrong: your answer has shape (1, 3, 4), the reference (3, 4): "
                                     "you have an extra dimension of size 1 at dim 0 — .squeeze(0)?")


def test_shape_missing_dimension_of_size_one(capsys):
    reference = torch.randn(4, 1, 3)
    check("ex", torch.randn(4, 3), reference)
    assert printed(capsys, "ex") == ("wrong: your answer has shape (4, 3), the reference (4, 1, 3): "
                                     "you are missing the dimension of size 1 at dim 1 — .unsqueeze(1)?")


def test_shape_that_would_broadcast(capsys):
    check("ex", torch.randn(3), torch.randn(4, 3))
    assert printed(capsys, "ex") == ("wrong: your answer has shape (3,), the reference (4, 3): "
                                     "it would broadcast, but the shapes must match")


def test_shape_without_a_known_slip_says_both_shapes(capsys):
    check("ex", torch.randn(2, 5), torch.randn(4, 3))
    assert printed(capsys, "ex") == "wrong: your answer has shape (2, 5), the reference (4, 3)"


def test_integer_answers_list_where_they_differ(capsys):
    assert check("exercise 1", [0, 3, 2, 1, 4], torch.tensor([0, 1, 2, 3, 4])) == "wrong"
    assert printed(capsys, "exercise 1") == (
        "wrong: 2 of 5 entries differ: at [1] you have 3, expected 1; at [3] you have 1, expected 3")


def test_integer_answers_show_only_the_first_few_positions(capsys):
    check("ex", torch.arange(10), torch.zeros(10, dtype=torch.int64))
    line = printed(capsys, "ex")
    assert line.startswith("wrong: 9 of 10 entries differ: at [1] you have 1, expected 0;")
    assert line.endswith("at [3] you have 3, expected 0; …")


def test_a_wrong_count_says_both_numbers(capsys):
    assert check("my_unet_calls", 0, 81920) == "wrong"
    assert printed(capsys, "my_unet_calls") == "wrong: you have 0, expected 81920"


def test_masks_count_differing_pixels_and_true_pixels(capsys):
    mine = np.zeros((8, 8), dtype=bool)
    reference = mine.copy()
    reference[2:4, 3:6] = True
    assert check("my_rectangle", mine, reference) == "wrong"
    assert printed(capsys, "my_rectangle") == (
        "wrong: 6 of 64 pixels differ (you have 0 True, the reference 6): at [2, 3] you have False, expected True; "
        "at [2, 4] you have False, expected True; at [2, 5] you have False, expected True; …")


def test_a_zeros_placeholder_reads_100_percent_off(capsys):
    reference = torch.full((5,), 1e-4)
    assert check("ex", torch.zeros(5), reference) == "wrong"
    assert printed(capsys, "ex") == ("wrong (max difference 0.0001, 100% of the reference's size) — "
                                     "your answer is all zeros: is it still the placeholder?")


@pytest.mark.parametrize("factor, named", [
    (2.0, "your answer is 2 × the reference: a factor of 2 somewhere?"),
    (0.5, "your answer is 0.5 × the reference: a factor of 2 somewhere?"),
    (3.7, "your answer is 3.7 × the reference: a factor of 3.7 somewhere?"),
    (-2.0, "your answer is -2 × the reference: a factor of 2 and a sign somewhere?"),
])
def test_a_constant_factor_is_named(capsys, factor, named):
    reference = torch.linspace(0.1, 1.0, 6)
    assert check("ex", factor * reference, reference) == "wrong"
    line = printed(capsys, "ex")
    assert line.startswith("wrong (max difference ")
    assert line.endswith(f" — {named}")


def test_the_relative_error_is_a_percentage_of_the_reference(capsys):
    check("ex", torch.tensor([1.0, 2.0, 2.5]), torch.tensor([1.0, 2.0, 4.0]))
    assert printed(capsys, "ex") == "wrong (max difference 1.5, 37.5% of the reference's size)"


def test_a_sign_slip_is_named(capsys):
    reference = torch.linspace(-1.0, 2.0, 7)
    check("ex", -reference, reference)
    assert printed(capsys, "ex").endswith(" — your answer is −1 × the reference: a sign slip?")


def test_one_number_names_only_whole_factors(capsys):
    check("ex", 0.74, 0.37)
    assert printed(capsys, "ex").endswith(" — your answer is 2 × the reference: a factor of 2 somewhere?")
    check("ex", 0.41, 0.37)
    assert printed(capsys, "ex") == "wrong (max difference 0.04, 10.8% of the reference's size)"


def test_an_unrelated_answer_names_no_slip(capsys):
    check("ex", torch.tensor([0.3, -0.2, 0.9, 0.1]), torch.tensor([0.5, 0.4, -0.1, 0.2]))
    assert "—" not in printed(capsys, "ex")


def test_a_reference_of_zeros_has_no_percentage(capsys):
    check("ex", torch.ones(3), torch.zeros(3))
    assert printed(capsys, "ex") == "wrong (max difference 1, and the reference is all zeros)"


def test_nan_or_inf_in_the_answer(capsys):
    reference = torch.tensor([1.0, 2.0, 3.0])
    assert check("ex", torch.tensor([1.0, float("nan"), float("inf")]), reference) == "wrong"
    assert printed(capsys, "ex") == ("wrong: 2 of 3 entries differ in NaN/inf: at [1] you have nan, expected 2; "
                                     "at [2] you have inf, expected 3")


def test_non_finite_reference_values_are_compared_by_position(capsys):
    reference = torch.tensor([float("nan"), float("inf"), 1.0])
    assert check("ex", reference.clone(), reference) == "exact"
    assert printed(capsys, "ex") == "exact"
    assert check("ex", torch.tensor([float("nan"), float("inf"), 1.0 + 1e-7]), reference) == "close"
    assert printed(capsys, "ex").startswith("close (max difference ")
    assert check("ex", torch.tensor([0.0, float("inf"), 1.0]), reference) == "wrong"
    assert printed(capsys, "ex") == "wrong: 1 of 3 entries differ in NaN/inf: at [0] you have 0, expected nan"
