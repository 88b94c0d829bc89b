"""Claims a notebook checks in its own run: the seed, the estimates and the printed line."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bdlearn.notebook import claim, claim_greater, mean_value, notebook_seed, success_rate
from bdlearn.notebook.claims import SEED_VARIABLE, Claim, difference, parse_claim


def test_the_seed_comes_from_the_environment_when_set(monkeypatch):
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    assert notebook_seed(5) == 5
    monkeypatch.setenv(SEED_VARIABLE, " 7 ")
    assert notebook_seed(5) == 7
    monkeypatch.setenv(SEED_VARIABLE, "")
    assert notebook_seed(5) == 5


@pytest.mark.parametrize("value", ["seven", "1.5", "-1", str(2**31)])
def test_a_bad_seed_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(SEED_VARIABLE, value)
    with pytest.raises(ValueError, match=SEED_VARIABLE):
        notebook_seed(0)


def test_rates_and_means_carry_the_textbook_standard_errors():
    rate = success_rate([True] * 30 + [False] * 70)
    assert rate.value == 0.3 and math.isclose(rate.standard_error, math.sqrt(0.3 * 0.7 / 100))
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean = mean_value(values)
    assert mean.value == 2.5 and math.isclose(mean.standard_error, values.std(ddof=1) / 2)
    with pytest.raises(ValueError):
        mean_value([4.0])  # one value has no standard error
    with pytest.raises(ValueError):
        success_rate([])
    none = success_rate([False] * 40)  # Wald's error would be 0: 4/40 vs 0/40 would "hold"
    assert none.value == 0.0 and math.isclose(none.standard_error, math.sqrt((1 / 42) * (41 / 42) / 40))
    assert not difference([True] * 4 + [False] * 36, [False] * 40).exceeds()


def test_pairing_removes_the_variation_the_two_settings_share():
    tasks = np.repeat(np.arange(8), 4)
    base = np.repeat(np.linspace(0, 10, 8), 4)  # tasks differ a lot
    a, b = base + 1.0 + 0.01 * np.arange(32) % 3, base + 0.01 * np.arange(32) % 2
    independent, paired = difference(a, b), difference(a, b, pairs=tasks)
    assert math.isclose(independent.value, paired.value)
    assert paired.standard_error < independent.standard_error / 10
    assert paired.exceeds() and not independent.exceeds()
    with pytest.raises(ValueError):
        difference(a, b[:-1], pairs=tasks)


def test_claim_lines_say_holds_only_beyond_two_standard_errors(capsys):
    strong = claim_greater("more", [True] * 40 + [False] * 24, [True] * 22 + [False] * 42, scale=100, unit=" points")
    weak = claim_greater("more", [True] * 24 + [False] * 40, [True] * 22 + [False] * 42, scale=100, unit=" points")
    wrong_way = claim_greater("more", [0.1, 0.2, 0.15], [0.3, 0.4, 0.35])
    assert strong.holds and not weak.holds and not wrong_way.holds
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "claim: more — holds (40/64 vs 22/64, difference 28.1 ± 8.5 points)"
    assert lines[1].startswith("claim: more — does not hold (24/64 vs 22/64")
    assert lines[2].startswith("claim: more — does not hold (0.15 vs 0.35, difference -0.2 ± ")


def test_a_plain_claim_prints_its_evidence(capsys):
    result = claim("the background is kept bit for bit", True, "0 of 98,304 pixels differ")
    assert str(result) == "claim: the background is kept bit for bit — holds (0 of 98,304 pixels differ)"
    assert capsys.readouterr().out == str(result) + "\n"


# What notebooks write in statements and evidence: words, numbers, units, brackets, a dash or ±.
TEXT = (st.text(st.sampled_from(list("abcxyz λ0123456789.,;:/%±−-()[]'")), min_size=1, max_size=60)
        .map(str.strip).filter(bool))


@given(statement=TEXT, holds=st.booleans(), evidence=TEXT)
def test_a_printed_claim_line_reads_back_as_the_same_claim(statement, holds, evidence):
    stated = Claim(statement, holds, evidence)
    assert parse_claim(str(stated)) == stated


@pytest.mark.parametrize("line", ["claim: no verdict", "a claim: x — holds (y)", "claim: x — holds", ""])
def test_lines_that_are_not_claims_read_as_none(line):
    assert parse_claim(line) is None
