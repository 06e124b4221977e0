"""The evaluation classifier: shapes, augmentation, training lowers the loss, checkpoint round trip."""
from __future__ import annotations

import numpy as np
import torch

from diffusion_core.models.classifier import ClassifierConfig, VoxelClassifier, load_classifier
from diffusion_core.training.classifier_trainer import ClassifierTrainConfig, augment, fit
from diffusion_core.data.dataset import make_synthetic_dataset


def test_logits_shape_and_predict_reads_alpha_only():
    model = VoxelClassifier(ClassifierConfig(resolution=8, num_classes=5, width=4))
    assert model(torch.zeros(3, 1, 8, 8, 8)).shape == (3, 5)
    rgba = make_synthetic_dataset(6, resolution=8, seed=1).voxels
    recoloured = rgba.copy()
    recoloured[:, :3] = 1 - recoloured[:, :3]
    pred = model.predict(rgba)
    assert pred.shape == (6,) and pred.dtype == np.int64
    np.testing.assert_array_equal(model.predict(recoloured), pred)
    np.testing.assert_array_equal(model.predict(rgba[:, 3:]), pred)


def test_augment_keeps_z_up_and_voxel_count():
    x = torch.zeros(1, 1, 4, 4, 4)
    x[0, 0, 0, 1, :3] = 1  # a column along z at (x=0, y=1)
    for seed in range(8):
        y = augment(x, torch.Generator().manual_seed(seed))
        assert y.sum() == 3 and torch.equal(y.sum(dim=(2, 3)), x.sum(dim=(2, 3)))  # heights unchanged


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    data = make_synthetic_dataset(48, resolution=8, seed=3, only_mask=True, classes=["cube", "table", "tree"])
    model = VoxelClassifier(ClassifierConfig(resolution=8, num_classes=3, width=4))
    losses = fit(model, data, ClassifierTrainConfig(resolution=8, width=4, epochs=8, batch_size=16, lr=1e-2),
                 progress=False)
    assert len(losses) == 8 * 3
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_checkpoint_round_trip_keeps_weights_and_heldout_accuracy(tiny_classifier):
    model, names, meta = load_classifier(tiny_classifier)
    assert model.cfg == ClassifierConfig(resolution=8, num_classes=len(names), width=4)
    assert 0.0 <= meta["heldout_accuracy"] <= 1.0
    again, _, _ = load_classifier(tiny_classifier)
    voxels = make_synthetic_dataset(8, resolution=8, seed=9).voxels
    np.testing.assert_array_equal(model.predict(voxels), again.predict(voxels))
