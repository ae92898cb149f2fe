import numpy as np
import pytest

from wdualmine.training.dataset import Augmenter, PairSet, load_pairs, series_of, split_by_series


def test_split_holds_out_whole_series():
    ids = [f"{s}{k:02d}" for s in ("160", "200", "201", "210", "280", "320", "330") for k in range(4)]
    train, val = split_by_series(ids)
    assert train and val and not set(train) & set(val)
    assert not {series_of(ids[k]) for k in train} & {series_of(ids[k]) for k in val}
    assert sorted(train + val) == list(range(len(ids)))


def test_augmentation_keeps_background_zero_and_the_pair_aligned():
    a = np.zeros((2, 32, 32), np.uint8)
    a[:, 8:20, 10:24] = 200
    pairs = PairSet(["001", "002"], a, a.copy())
    batch_a, batch_b = Augmenter(crop=16, seed=0).batch(pairs, 8)
    assert batch_a.shape == (8, 1, 16, 16)
    # both modalities get the same crop, flip and rotation
    assert np.array_equal(batch_a.numpy() > 0, batch_b.numpy() > 0)
    assert float(batch_a.min()) == 0.0 and float(batch_a.max()) <= 1.0


def test_loads_the_training_layout(aanlib_root):
    pairs = load_pairs(aanlib_root, "pet")
    assert pairs.a.shape == pairs.b.shape and pairs.a.shape[1:] == (256, 256) and pairs.a.dtype == np.uint8
    assert len(pairs.ids) == 245


def test_missing_folder_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected the layout"):
        load_pairs(tmp_path, "ct")
