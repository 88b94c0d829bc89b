"""Running an edit's repetitions a batch at a time, with a progress bar, and a smaller batch after
running out of GPU memory.

:func:`run_in_batches` calls ``run_batch(size, on_step)`` until ``plan.repetitions`` edits are made,
``plan.batch_size`` at a time (:func:`~bdlearn.machinery.cost.plan_batches`). If a batch runs out of
GPU memory, the batch is halved with a warning and retried from the same random state, so the retry
draws the same noise the failed attempt did. A batch the user chose is never changed behind their
back: then, as when a single edit does not fit, the error says what to do instead.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

import torch
from tqdm.auto import tqdm

from bdlearn.machinery.cost import BatchPlan
from bdlearn.machinery.inputs import InputError

Output = TypeVar("Output")


def smaller_batch(plan: BatchPlan, batch: int) -> int:
    """The batch to retry with after running out of GPU memory with ``batch`` edits at once: half of it,
    with a warning; an :class:`~bdlearn.machinery.inputs.InputError` where that is not for bdlearn to do."""
    if plan.chosen_by == "you":
        raise InputError(f"out of memory on {plan.device} with batch_size={batch} (edits at once); pass a smaller "
                         "batch_size (--batch-size), or leave it unset for bdlearn to choose one that fits")
    if batch == 1:
        raise InputError(f"out of memory on {plan.device} even with one edit at a time; free GPU memory (other "
                         "notebooks or processes using it) or use fewer augmentations")
    smaller = batch // 2
    warnings.warn(f"out of memory on {plan.device} with {batch} edits at once; going on with {smaller} at a time",
                  RuntimeWarning, stacklevel=4)  # the caller of bdlearn.edit
    return smaller


def _out_of_memory(err: RuntimeError) -> bool:
    # torch.cuda.OutOfMemoryError, or cuDNN's and cuBLAS's own words for it
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err)


def run_in_batches(plan: BatchPlan, generator: torch.Generator,
                   run_batch: Callable[[int, Callable[[int], object]], Output],
                   *, progress: bool = True, description: str = "editing") -> list[Output]:
    """``run_batch(size, on_step)`` for batches of ``plan.batch_size`` until ``plan.repetitions`` edits are made.

    ``run_batch`` draws its noise from ``generator`` and calls ``on_step(n)`` after each step of its
    ``size`` edits (it advances the bar). With ``progress``, first says what will run
    (:meth:`~bdlearn.machinery.cost.BatchPlan.describe`), then shows a bar over the UNet evaluations
    (on stderr). Returns each batch's output, in order.
    """
    outputs: list[Output] = []
    batch_size, made = plan.batch_size, 0
    with tqdm(total=plan.unet_evaluations, desc=description, unit="edit-step", leave=False, disable=not progress,
              file=sys.stderr) as bar:
        if progress:
            bar.write(plan.describe(), file=sys.stderr)
        while made < plan.repetitions:
            batch = min(batch_size, plan.repetitions - made)
            state = generator.get_state()
            try:
                outputs.append(run_batch(batch, bar.update))
            except RuntimeError as err:
                if not _out_of_memory(err):
                    raise
            else:
                made += batch
                continue
            # out of memory: handled here, once the failed attempt's tensors are released
            torch.cuda.empty_cache()
            batch_size = smaller_batch(plan, batch)
            generator.set_state(state)  # the retry draws the same noise
            bar.update(made * plan.steps - bar.n)  # back to where this batch began
    return outputs
