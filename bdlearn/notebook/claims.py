"""Claims a notebook makes, checked by its own run: one printed line each, ``holds`` or ``does not hold``.

Every lesson names its headline claims near the top (for example "with 8 augmentations the judge
accepts more edits") and then shows each one with a *claim cell* that measures it and prints::

    claim: with 8 augmentations the judge accepts more edits — holds (41/64 vs 22/64, difference 30 ± 8 points)

A comparison *holds* when the effect points the claimed way and exceeds twice its standard error
(about 97.7% one-sided confidence for a normal estimate with many samples; less with few pairs), so
a claim that holds is more than the luck of one seed; ``benchmarks/bench_claims.py`` checks that
across seeds. The test suite fails a notebook run in which any line says ``does not hold``, and
``benchmarks/bench_claims.py`` re-runs every notebook under other seeds
(:func:`notebook_seed` reads ``BDLEARN_NOTEBOOK_SEED``) and counts how often each claim holds.

The standard errors are the textbook ones: for a proportion p of n trials √(p(1−p)/n); for a
difference of two independent estimates √(SE_a² + SE_b²); for paired measurements (the same tasks
edited under two settings) the standard error of the mean of the per-pair differences.
"""
from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bdlearn.checks import shown
from bdlearn.errors import InputError

#: The environment variable a student sets to re-run a notebook with another seed.
SEED_VARIABLE = "BDLEARN_NOTEBOOK_SEED"
#: A printed claim line: ``claim: <statement> — holds|does not hold (<evidence>)``.
CLAIM_LINE = re.compile(r"^claim: (?P<statement>.+) — (?P<verdict>holds|does not hold) \((?P<evidence>.*)\)$")
#: How many standard errors an effect must exceed for its claim to hold.
STANDARD_ERRORS = 2.0


def notebook_seed(default: int) -> int:
    """The notebook's base seed: ``BDLEARN_NOTEBOOK_SEED`` when it is set, else ``default``; either a whole
    number in [0, 2**31).

    Every random choice of a notebook (tasks, noise, augmentations) derives from this number, so
    ``BDLEARN_NOTEBOOK_SEED=7 jupyter lab`` re-runs the whole course with another draw.
    """
    value = os.environ.get(SEED_VARIABLE, "").strip()
    if not value:
        return _seed("default", default)
    try:
        seed = int(value)
    except ValueError:
        raise ValueError(f"{SEED_VARIABLE} must be a whole number, got {value!r}") from None
    return _seed(SEED_VARIABLE, seed)


def _seed(name: str, seed: int) -> int:
    """``seed`` as an int, refused (a ValueError naming ``name``) unless it is a whole number in [0, 2**31)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {seed!r}")
    if not 0 <= seed < 2**31:
        raise ValueError(f"{name} must be in [0, 2**31), got {seed}")
    return int(seed)


@dataclass(frozen=True)
class Estimate:
    """A measured number with its standard error."""

    value: float
    standard_error: float

    def exceeds(self, threshold: float = 0.0) -> bool:
        """True when the value lies more than :data:`STANDARD_ERRORS` standard errors above ``threshold``."""
        return self.value - threshold > STANDARD_ERRORS * self.standard_error


def _numbers(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` (finite numbers or bools: a list, an array, a tensor) as a flat float array; anything else,
    strings too (NumPy would read '12' as 12.0), and NaN or inf (a failed measurement would turn into a verdict),
    is an InputError naming ``name``."""
    try:
        array = np.asarray(values)
    except ValueError:  # nested lists of unequal lengths
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise InputError(f"{name} must be numbers or bools (a list, array or tensor of them), got {shown(values)}")
    array = array.astype(float).ravel()
    if not np.isfinite(array).all():
        raise InputError(f"{name} must be finite numbers; it holds {int((~np.isfinite(array)).sum())} NaN or "
                         f"infinite value(s) of {array.size} (a failed measurement?): fix or drop those outcomes")
    return array


def success_rate(successes: Sequence[bool] | np.ndarray) -> Estimate:
    """The success rate of independent trials, with its binomial standard error √(p(1−p)/n).

    At p = 0 or 1 that formula gives 0, which would let any difference from such a sample "hold";
    there the error is computed with p̃ = (k + 1)/(n + 2) (one success and one failure added).
    """
    outcomes = _numbers("successes", successes)
    if outcomes.size == 0:
        raise ValueError("a rate needs at least one trial")
    if not np.isin(outcomes, (0.0, 1.0)).all():
        raise ValueError("a success rate counts trials that succeeded or not: give True/False (or 1/0) per trial")
    p = float(outcomes.mean())
    spread = p if 0 < p < 1 else (outcomes.sum() + 1) / (outcomes.size + 2)
    return Estimate(p, math.sqrt(spread * (1 - spread) / outcomes.size))


def mean_value(values: Sequence[float] | np.ndarray) -> Estimate:
    """The mean of independent measurements, with its standard error s/√n (at least two values)."""
    values = _numbers("values", values)
    if values.size < 2:
        raise ValueError(f"a mean with a standard error needs at least two values, got {values.size}")
    return Estimate(float(values.mean()), float(values.std(ddof=1)) / math.sqrt(values.size))


def difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
               pairs: Sequence[object] | np.ndarray | None = None) -> Estimate:
    """a − b of two samples of outcomes (bools for rates, numbers for means), with its standard error.

    ``pairs`` labels each outcome with the pair it belongs to, the same labels for ``a`` and ``b``:
    for example the task, when every task was edited under both settings (``range(len(a))`` when
    a[i] and b[i] are one task and seed). The estimate is then the mean over pairs of the
    difference of their means, and its standard error that of those per-pair differences: the
    variation between tasks, which both settings share, drops out. Without ``pairs`` the samples
    are independent.
    """
    a, b = _numbers("a", a), _numbers("b", b)
    if pairs is None:
        first = success_rate(a) if _binary(a) else mean_value(a)
        second = success_rate(b) if _binary(b) else mean_value(b)
        return Estimate(first.value - second.value, math.hypot(first.standard_error, second.standard_error))
    labels = np.asarray(pairs).ravel()
    if not a.size == b.size == labels.size:
        raise ValueError(f"paired samples need one label per outcome, got {a.size}, {b.size} and {labels.size}")
    return mean_value([a[labels == label].mean() - b[labels == label].mean() for label in np.unique(labels)])


@dataclass(frozen=True)
class Claim:
    """A claim, whether the notebook's run supports it, and the numbers that say so."""

    statement: str
    holds: bool
    evidence: str

    def __str__(self) -> str:
        verdict = "holds" if self.holds else "does not hold"
        return f"claim: {self.statement} — {verdict} ({self.evidence})"


def parse_claim(line: str) -> Claim | None:
    """The :class:`Claim` a printed claim line states (the inverse of ``str(claim)``), or None if it is not one.

    The test suite and ``benchmarks/bench_claims.py`` read a notebook's outputs with this.
    """
    match = CLAIM_LINE.match(line.strip())
    if match is None:
        return None
    return Claim(match["statement"], match["verdict"] == "holds", match["evidence"])


def claim(statement: str, holds: bool, evidence: str) -> Claim:
    """Print the claim line ``claim: <statement> — holds|does not hold (<evidence>)`` and return it.

    ``statement`` and ``evidence`` are strings on one line, the statement not blank, so that
    :func:`parse_claim` reads the printed line back (a claim it cannot read would go unchecked).
    """
    if not isinstance(holds, (bool, np.bool_)):
        raise TypeError(f"holds must be True or False (the result of a comparison), got {holds!r}")
    for name, text in (("statement", statement), ("evidence", evidence)):
        if not isinstance(text, str):
            raise TypeError(f"the claim's {name} must be a string, got {shown(text)}")
        if "".join(text.splitlines()) != text:
            raise InputError(f"the claim's {name} must fit on one line (the printed claim is read back line by "
                             f"line), got {shown(text)}")
    if not statement.strip():
        raise InputError(f"the claim's statement is blank, got {statement!r}: say what is claimed, e.g. 'with 8 "
                         "augmentations the judge accepts more edits'")
    result = Claim(statement, bool(holds), evidence)
    print(result)
    return result


def claim_greater(statement: str, a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                  pairs: Sequence[object] | np.ndarray | None = None, scale: float = 1.0, unit: str = "",
                  names: tuple[str, str] = ("", "")) -> Claim:
    """Claim that the outcomes ``a`` exceed the outcomes ``b`` by more than twice the standard error.

    For bools (successes) the evidence reads ``41/64 vs 22/64, difference 30 ± 8 points`` (``scale``
    100, ``unit`` " points"); for numbers it reads ``0.31 vs 0.12, difference 0.19 ± 0.02``.
    ``scale``, a positive finite number, multiplies only the printed difference and its error.
    ``pairs`` as in :func:`difference`; ``names`` label the two samples in the evidence.
    """
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real) or not 0 < scale < math.inf:
        raise InputError(f"scale must be a positive finite number (100 prints a rate's difference in points), "
                         f"got {shown(scale)}")
    a, b = _numbers("a", a), _numbers("b", b)
    effect = difference(a, b, pairs)
    label_a, label_b = (f"{name} " if name else "" for name in names)
    if _binary(a) and _binary(b):
        compared = f"{label_a}{int(a.sum())}/{a.size} vs {label_b}{int(b.sum())}/{b.size}"
    else:
        compared = f"{label_a}{a.mean():.3g} vs {label_b}{b.mean():.3g}"
    evidence = (f"{compared}, difference {effect.value * scale:.3g} ± {effect.standard_error * scale:.2g}"
                f"{unit}{'' if pairs is None else f', {len(np.unique(np.asarray(pairs)))} pairs'}")
    return claim(statement, effect.exceeds(0.0), evidence)


def _binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0.0, 1.0)).all())

