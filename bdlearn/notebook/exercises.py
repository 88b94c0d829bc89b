"""Checking a learner's answer against bdlearn's, and saying what went wrong.

:func:`check` prints one line, ``"<name>: <verdict>"``, and returns the verdict's first word:
``"exact"``, ``"close"`` (equal up to float round-off) or ``"wrong"``. A "wrong" line tries to
teach rather than only measure: it names the common slips it can recognise, such as

* no answer at all (``None``: a forgotten ``return``) or an answer that is not a number;
* a shape slip: transposed, permuted or reshaped entries, a dimension of size 1 too many or too
  few, or a shape that would broadcast to the reference's;
* for integer and bool answers (indices, counts, masks): which entries differ;
* for float answers: how far off, relative to the reference's size, and whether the answer is all
  zeros (the placeholder), a constant factor times the reference, the reference with the opposite
  sign, or holds NaN/inf where the reference does not.

All comparisons are done with torch, on the CPU, in float64 (int64 or bool for discrete answers,
complex128 where either side is complex: an imaginary part is never dropped).
"""
from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np
import torch

from bdlearn.checks import checked_real

EXACT, CLOSE, WRONG = "exact", "close", "wrong"
SHOWN_POSITIONS = 3  # how many differing entries a "wrong" line lists
MAX_PERMUTED_DIMS = 5  # try every order of dims only up to this many dims (5! = 120 orders)


def check(name: str, mine: Any, reference: Any, rtol: float = 1e-4, atol: float = 1e-5) -> str:
    """Compare ``mine`` with ``reference``, print ``"<name>: <verdict>"`` and return the verdict.

    Both may be tensors (sparse ones are compared as their dense values), numpy arrays, Python numbers,
    bools or (nested) lists of numbers.
    The returned verdict is one of:

    * ``"exact"``: same shape and the same values (NaN where the reference has NaN counts as equal);
    * ``"close"``: same shape, values within ``rtol``/``atol`` as in :func:`torch.allclose`
      (float round-off); the line shows the largest difference;
    * ``"wrong"``: anything else; the line says why, as precisely as it can.

    Integer and bool answers against an integer or bool reference (indices, counts, masks) are only
    ever "exact" or "wrong". ``rtol`` and ``atol`` are finite numbers >= 0.
    """
    rtol, atol = checked_real("rtol", rtol, 0), checked_real("atol", atol, 0)
    verdict, line = _judge(mine, reference, rtol, atol)
    print(f"{name}: {line}")
    return verdict


def _judge(mine: Any, reference: Any, rtol: float, atol: float) -> tuple[str, str]:
    """The verdict and the line that explains it (without the exercise's name)."""
    ref = _to_tensor(reference)
    if ref is None:
        raise TypeError(f"check: the reference must be a tensor, array or number, not {_type_name(reference)}")
    if mine is None:
        return WRONG, "wrong: your answer is None — did you forget `return`?"
    mine_t = _to_tensor(mine)
    if mine_t is None:
        return WRONG, (f"wrong: expected a tensor/array/number like the reference (shape {_shape(ref)}), "
                       f"got {_type_name(mine)}")
    mine_t, ref = _common_dtype(mine_t, ref)
    if mine_t.shape != ref.shape:
        return WRONG, _shape_line(mine_t, ref, rtol, atol)
    if _is_discrete(ref):
        return _judge_discrete(mine_t, ref)
    return _judge_floats(mine_t, ref, rtol, atol)


# --- turning answers into tensors -------------------------------------------------------------

def _to_tensor(value: Any) -> torch.Tensor | None:
    """``value`` as a dense CPU tensor outside autograd (a sparse one made dense), or None when it cannot be
    one (a string, a dict...)."""
    if isinstance(value, (str, bytes)):
        return None
    if isinstance(value, np.ndarray):
        value = np.array(value)  # a copy: torch refuses negative strides and warns on read-only arrays
    try:
        tensor = torch.as_tensor(value).detach().cpu()
        return tensor if tensor.layout == torch.strided else tensor.to_dense()
    except (TypeError, ValueError, RuntimeError):
        return None


def _type_name(value: Any) -> str:
    """The type of ``value`` for a message, with what a list or tuple holds: "list of Tensor"."""
    name = type(value).__name__
    if isinstance(value, (list, tuple)) and value:
        name += f" of {type(value[0]).__name__}"
    return name


def _is_discrete(t: torch.Tensor) -> bool:
    """Whether ``t`` holds integers or bools (indices, counts, masks) rather than floats."""
    return not (t.is_floating_point() or t.is_complex())


def _common_dtype(mine: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both tensors in one dtype to compare in: bool if both are, int64 if both are discrete, complex128 if either
    is complex (so 1+1j is not 1-1j, nor 1.0), else float64."""
    if mine.dtype == ref.dtype == torch.bool:
        return mine, ref
    if mine.is_complex() or ref.is_complex():
        dtype = torch.complex128
    else:
        dtype = torch.int64 if _is_discrete(mine) and _is_discrete(ref) else torch.float64
    return mine.to(dtype), ref.to(dtype)


def _matches(mine: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> bool:
    """Whether two tensors of the same shape and dtype are "exact" or "close"."""
    if _is_discrete(ref):
        return torch.equal(mine, ref)
    return torch.allclose(mine, ref, rtol=rtol, atol=atol, equal_nan=True)


# --- shapes ---------------------------------------------------------------------------------

def _shape(t: torch.Tensor) -> tuple[int, ...]:
    """The shape as a plain tuple, which prints as (4, 3), (3,) or () for a single number."""
    return tuple(t.shape)


def _shape_line(mine: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> str:
    """The "wrong" line for a shape mismatch, naming the slip when it is a common one."""
    line = f"wrong: your answer has shape {_shape(mine)}, the reference {_shape(ref)}"
    slip = (_size_one_slip(_shape(mine), _shape(ref)) or _rearranged_slip(mine, ref, rtol, atol)
            or _broadcast_slip(_shape(mine), _shape(ref)))
    return f"{line}: {slip}" if slip else line


def _size_one_slip(mine: tuple[int, ...], ref: tuple[int, ...]) -> str | None:
    """Name a dimension of size 1 too many (``squeeze``) or too few (``unsqueeze``), if that is all."""
    for dim in range(len(mine)):
        if mine[dim] == 1 and mine[:dim] + mine[dim + 1:] == ref:
            return f"you have an extra dimension of size 1 at dim {dim} — .squeeze({dim})?"
    for dim in range(len(ref)):
        if ref[dim] == 1 and ref[:dim] + ref[dim + 1:] == mine:
            return f"you are missing the dimension of size 1 at dim {dim} — .unsqueeze({dim})?"
    if tuple(n for n in mine if n != 1) == tuple(n for n in ref if n != 1):
        return f"the shapes differ only in dimensions of size 1 — .reshape{_shape_text(ref)}?"
    return None


def _rearranged_slip(mine: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> str | None:
    """Name an answer holding the reference's entries transposed, with dims permuted, or reshaped."""
    if mine.dim() == ref.dim() and 2 <= mine.dim() <= MAX_PERMUTED_DIMS and sorted(mine.shape) == sorted(ref.shape):
        for order in permutations(range(mine.dim())):
            permuted = mine.permute(order)
            if permuted.shape == ref.shape and _matches(permuted, ref, rtol, atol):
                if mine.dim() == 2:
                    return "the same entries transposed — your answer's .T equals the reference"
                return (f"the same entries with the dims in another order — "
                        f"your answer's .permute{_shape_text(order)} equals the reference")
    if mine.numel() == ref.numel() and _matches(mine.reshape(ref.shape), ref, rtol, atol):
        return (f"the same entries in another shape — "
                f"your answer's .reshape{_shape_text(_shape(ref))} equals the reference")
    return None


def _broadcast_slip(mine: tuple[int, ...], ref: tuple[int, ...]) -> str | None:
    """Name an answer that would broadcast to the reference's shape, which silently hides mistakes."""
    try:
        broadcast = tuple(torch.broadcast_shapes(mine, ref))
    except RuntimeError:
        return None
    return "it would broadcast, but the shapes must match" if broadcast == ref else None


def _shape_text(shape: tuple[int, ...]) -> str:
    """A shape as the arguments of a call: (3, 4) or (3) — never the tuple's trailing comma (3,)."""
    return "(" + ", ".join(str(n) for n in shape) + ")"


# --- integer and bool answers ---------------------------------------------------------------

def _judge_discrete(mine: torch.Tensor, ref: torch.Tensor) -> tuple[str, str]:
    """Integers or bools are right or wrong; a wrong line lists where they differ."""
    if torch.equal(mine, ref):
        return EXACT, "exact"
    if ref.dim() == 0:
        return WRONG, f"wrong: you have {_value(mine)}, expected {_value(ref)}"
    differ = mine != ref
    count = f"{int(differ.sum())} of {ref.numel()} {'pixels' if ref.dim() >= 2 else 'entries'} differ"
    if ref.dtype == torch.bool:
        count += f" (you have {int(mine.sum())} True, the reference {int(ref.sum())})"
    return WRONG, f"wrong: {count}: {_first_differences(mine, ref, differ)}"


def _first_differences(mine: torch.Tensor, ref: torch.Tensor, differ: torch.Tensor) -> str:
    """ "at [1] you have 3, expected 1; ..." for the first few positions where ``differ`` is True."""
    positions = differ.nonzero().tolist()
    parts = [f"at {list(p)} you have {_value(mine[tuple(p)])}, expected {_value(ref[tuple(p)])}"
             for p in positions[:SHOWN_POSITIONS]]
    return "; ".join(parts) + ("; …" if len(positions) > SHOWN_POSITIONS else "")


def _value(t: torch.Tensor) -> str:
    """One entry for a message: 3, True, 0.1235, nan or inf."""
    value = t.item()
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# --- float answers --------------------------------------------------------------------------

def _judge_floats(mine: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> tuple[str, str]:
    """Floats are exact, close (round-off) or wrong by some amount, with the slip named if known."""
    same = (mine == ref) | (mine.isnan() & ref.isnan())
    if bool(same.all()):
        return EXACT, "exact"
    nonfinite = ~same & ~(mine.isfinite() & ref.isfinite())
    if bool(nonfinite.any()):
        return WRONG, (f"wrong: {int(nonfinite.sum())} of {ref.numel()} entries differ in NaN/inf: "
                       f"{_first_differences(mine, ref, nonfinite)}")
    # From here on the two differ only where both are finite: compare those entries.
    mine, ref = mine[ref.isfinite()], ref[ref.isfinite()]
    difference = (mine - ref).abs().max().item()
    if _matches(mine, ref, rtol, atol):
        return CLOSE, f"close (max difference {difference:.2e})"
    scale = ref.abs().max().item()
    size = (f"{100 * difference / scale:.3g}% of the reference's size" if scale > 0
            else "and the reference is all zeros")
    line = f"wrong (max difference {difference:.3g}, {size})"
    slip = _float_slip(mine, ref, rtol, atol)
    return WRONG, f"{line} — {slip}" if slip else line


def _float_slip(mine: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> str | None:
    """Name a wrong float answer's slip: all zeros, the opposite sign, or a constant factor off."""
    if bool((mine == 0).all()):
        return "your answer is all zeros: is it still the placeholder?"
    if torch.allclose(mine, -ref, rtol=rtol, atol=atol):
        return "your answer is −1 × the reference: a sign slip?"
    factor = _constant_factor(mine, ref, rtol, atol)
    if factor is None:
        return None
    size = f"{max(abs(factor), 1 / abs(factor)):.3g}"
    sign = " and a sign" if factor < 0 else ""
    return f"your answer is {factor:.3g} × the reference: a factor of {size}{sign} somewhere?"


def _constant_factor(mine: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float) -> float | None:
    """The c with mine ≈ c · ref within tolerance (fitted by least squares), or None.

    With one number any c would fit, so there only a whole number or its inverse (2, ½, 3...)
    counts as a slip; c ≈ 1 is not a slip but round-off, and c = 0 is the all-zeros case. Complex answers are
    not fitted (a complex factor is a rotation, not a slip this names).
    """
    if ref.is_complex() or int((ref != 0).sum()) == 0:
        return None
    c = ((mine * ref).sum() / (ref * ref).sum()).item()
    if c == 0 or f"{c:.3g}" == "1" or not torch.allclose(mine, c * ref, rtol=rtol, atol=atol):
        return None
    if int((ref != 0).sum()) == 1 and not _whole_or_inverse(c):
        return None
    return c


def _whole_or_inverse(c: float) -> bool:
    """Whether c or 1/c is a whole number (to 3 digits): 2, −3, 0.5, 0.25..."""
    return any(abs(x - round(x)) < 1e-3 * abs(x) for x in (c, 1 / c))
