"""The CLIP pictures of notebook 03: a similarity heatmap with image rows and zero-shot bar charts."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from bdlearn.notebook.plotting import similarity_heatmap, zero_shot_bars


def _images(count: int) -> torch.Tensor:
    return torch.rand((count, 3, 8, 8), generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_similarity_heatmap_marks_rows_with_images_and_columns_with_labels():
    labels = ["a red circle", "a blue square", "a green cross"]
    fig = similarity_heatmap(torch.linspace(-1, 1, 6).view(2, 3), _images(2), labels)
    heatmap = fig.axes[0]
    assert [tick.get_text() for tick in heatmap.get_xticklabels()] == labels
    assert len(heatmap.artists) == 2  # one thumbnail per row
    assert len(heatmap.texts) == 6  # every cell annotated
    plt.close(fig)


def test_zero_shot_bars_shows_the_top_labels_best_first_and_marks_the_truth():
    labels = ["a", "b", "c", "d"]
    probabilities = torch.tensor([[0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1]])
    fig = zero_shot_bars(_images(2), labels, probabilities, top=2, truth=["c", "a"], titles=["one", "two"])
    bars = fig.axes[2:]  # row 0: the images, row 1: the bar charts
    assert [tick.get_text() for tick in bars[0].get_yticklabels()] == ["b", "c"]
    assert [patch.get_width() for patch in bars[0].patches] == pytest.approx([0.6, 0.2])
    green = matplotlib.colors.to_rgba("tab:green")
    assert [patch.get_facecolor() == green for patch in bars[0].patches] == [False, True]
    assert [patch.get_facecolor() == green for patch in bars[1].patches] == [True, False]
    assert fig.axes[0].get_title() == "one"
    plt.close(fig)


def test_equation_figure_draws_pictures_and_symbols_in_order():
    from bdlearn.notebook import equation_figure

    images = _images(3)
    fig = equation_figure([images[0], "⊙", images[1], "=", images[2]], ["$x_{fg}$", "", "$m$", "", "$x_{t-1}$"])
    axes = fig.axes
    assert len(axes) == 5
    assert [len(ax.images) for ax in axes] == [1, 0, 1, 0, 1]
    assert [t.get_text() for ax in axes for t in ax.texts] == ["$x_{fg}$", "⊙", "$m$", "=", "$x_{t-1}$"]
    plt.close(fig)
