"""PCA feature maps of patch features (function and `vjepa2-hf feature-map`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vjepa2_hf import VJEPA2Config, VJEPA2Model
from vjepa2_hf.cli import main
from vjepa2_hf.encoder.feature_maps import feature_map_images, pca_feature_maps


def test_pca_colours_separate_two_regions():
    """Tokens of two regions with different features get clearly different colours; noise does not matter."""
    generator = torch.Generator().manual_seed(0)
    grid = (2, 4, 6)
    region = torch.zeros(grid, dtype=torch.bool)
    region[:, :, 3:] = True  # right half
    direction = torch.randn(32, generator=generator)
    features = torch.randn(48, 32, generator=generator) * 0.05 + region.reshape(-1, 1) * direction
    maps = pca_feature_maps(features, grid)
    assert maps.shape == (2, 4, 6, 3) and maps.min() >= 0 and maps.max() <= 1
    first = maps[..., 0]
    assert (first[region].mean() - first[~region].mean()).abs() > 0.8
    assert torch.equal(pca_feature_maps(features, grid), maps)  # deterministic signs
    images = feature_map_images(maps, patch_size=8, frames=torch.rand(4, 32, 48, 3))
    assert len(images) == 2 and images[0].shape == (32, 96, 3) and images[0].dtype == np.uint8
    with pytest.raises(ValueError, match="has 24 tokens"):
        pca_feature_maps(features, (1, 4, 6))


@pytest.mark.parametrize("features", ["last", "hierarchical"])
def test_feature_map_command_on_a_tiny_v21_model(tmp_path, capsys, features):
    torch.manual_seed(0)
    VJEPA2Model(VJEPA2Config.from_preset("vjepa2_1_tiny")).save_pretrained(tmp_path / "model")
    out = tmp_path / "maps"
    assert main(["feature-map", "--model", str(tmp_path / "model"), "--num-frames", "8", "--features", features,
                 "--output-dir", str(out)]) == 0
    assert "wrote 4 feature map(s) of grid (4, 8, 8)" in capsys.readouterr().out
    pngs = sorted(out.glob("frame_*.png"))
    assert len(pngs) == 4
    image = np.asarray(Image.open(pngs[0]))
    assert image.shape == (64, 128, 3)  # input frame | feature map
    assert image[:, 64:].std() > 10  # a coloured map, not a flat picture


def test_feature_map_command_refuses_hierarchical_on_v20(tmp_path, capsys):
    assert main(["feature-map", "--features", "hierarchical", "--output-dir", str(tmp_path / "m")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("vjepa2-hf feature-map: error: ") and error.count("\n") == 1
    assert "needs a V-JEPA 2.1 model" in error
