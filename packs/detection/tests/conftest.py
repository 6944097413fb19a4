"""Fixtures of the detection pack tests: modules from functions, valid random boxes and ROIs."""
from __future__ import annotations

from typing import Callable

import pytest
import torch

from trtforge.testing import module_from


@pytest.fixture
def module() -> Callable[[Callable], torch.nn.Module]:
    """``module(fn)``: an ``nn.Module`` whose forward calls ``fn`` (the test kit's ``module_from``)."""
    return module_from


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def random_boxes(gen: torch.Generator, n: int, *, extent: float = 100.0, max_wh: float = 30.0,
                 clusters: int = 0) -> torch.Tensor:
    """``[n, 4]`` valid xyxy boxes (``x1 < x2``, ``y1 < y2``); ``clusters`` > 0 piles them on a few centres."""
    if clusters:
        centres = torch.rand(clusters, 2, generator=gen) * extent
        xy = centres[torch.randint(0, clusters, (n,), generator=gen)] + torch.randn(n, 2, generator=gen)
    else:
        xy = torch.rand(n, 2, generator=gen) * extent
    wh = torch.rand(n, 2, generator=gen) * max_wh + 1.0
    return torch.cat([xy, xy + wh], 1)


def random_rois(gen: torch.Generator, k: int, batch: int, extent: float) -> torch.Tensor:
    """``[k, 5]`` ROIs meant to hit every branch of the kernels: inside, across and outside the
    map, zero-size (a quarter), sub-pixel (a quarter) and larger than the map."""
    xy = torch.rand(k, 2, generator=gen) * extent * 3 - extent
    wh = torch.rand(k, 2, generator=gen) ** 3 * extent * 4
    wh[: k // 4] = 0
    wh[k // 4: k // 2] *= 0.01
    index = torch.randint(0, batch, (k, 1), generator=gen).float()
    return torch.cat([index, xy, xy + wh], 1)


@pytest.fixture
def boxes() -> Callable[..., torch.Tensor]:
    return random_boxes


@pytest.fixture
def rois() -> Callable[..., torch.Tensor]:
    return random_rois
