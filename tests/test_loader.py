"""prepare_images and DataLoader: values, dtypes, batching, reproducible shuffling and resuming."""
import numpy as np
import pytest
from util import assert_close

from xpnet import backend
from xpnet.data import DATASETS, DataLoader, prepare_images


def test_prepare_images_matches_torch(rng, torch):
    images = rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    with backend.default_dtype(np.float64):
        x = prepare_images(images, mean=0.25, std=0.5)
    assert x.dtype == np.float64 and x.shape == (3, 1, 5, 4)
    expected = (torch.from_numpy(images).double().unsqueeze(1) / 255.0 - 0.25) / 0.5
    assert_close(x, expected)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_prepare_images_defaults_per_dataset(name):
    images = np.array([[[0, 255]]], dtype=np.uint8)
    x = prepare_images(images, dataset=name)
    assert x.dtype == np.float32 and x.shape == (1, 1, 1, 2)
    ds = DATASETS[name]
    np.testing.assert_allclose(x.ravel(), [-ds.mean / ds.std, (1 - ds.mean) / ds.std], rtol=1e-6)


def test_prepare_images_accepts_nchw_and_rejects_bad_input():
    images = np.full((2, 1, 3, 3), 255, np.uint8)
    np.testing.assert_allclose(prepare_images(images, mean=0.0, std=1.0), 1.0)
    with pytest.raises(ValueError, match=r"prepare_images: expected uint8 .* got float32"):
        prepare_images(images.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 3, 3\)"):
        prepare_images(np.zeros((2, 3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="std must be positive"):
        prepare_images(images, std=0)


def _data(n=10):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return x, np.arange(n, dtype=np.int64)


def _epoch(loader):
    """The sample order of one epoch (y holds each sample's index), checking x and y stay paired."""
    order = []
    for xb, yb in loader:
        assert backend.backend_of(xb) == backend.current() and xb.dtype == np.float32 and yb.dtype == np.int64
        xb, yb = backend.to_numpy(xb), backend.to_numpy(yb)
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
        order += yb.tolist()
    return order


@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batches_in_order_without_shuffle(drop_last, sizes):
    loader = DataLoader(*_data(), batch_size=4, shuffle=False, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(yb) for _, yb in loader] == sizes
    assert _epoch(loader) == list(range(sum(sizes)))


def test_shuffle_covers_each_sample_once_and_reshuffles():
    loader = DataLoader(*_data(), batch_size=3, seed=5)
    first, second = _epoch(loader), _epoch(loader)
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second
    again = DataLoader(*_data(), batch_size=3, seed=5)
    assert (_epoch(again), _epoch(again)) == (first, second)


def test_seed_none_draws_from_backend_rng():
    backend.seed(3)
    a = _epoch(DataLoader(*_data(50), batch_size=7))
    backend.seed(3)
    assert _epoch(DataLoader(*_data(50), batch_size=7)) == a
    assert _epoch(DataLoader(*_data(50), batch_size=7)) != a


def test_resume_between_epochs():
    loader = DataLoader(*_data(), batch_size=3, seed=1)
    _epoch(loader)
    state = loader.state_dict()
    expected = _epoch(loader)
    other = DataLoader(*_data(), batch_size=3, seed=99)
    other.load_state_dict(state)
    assert _epoch(other) == expected


def test_resume_mid_epoch_skips_seen_batches():
    loader = DataLoader(*_data(), batch_size=3, seed=2)
    _epoch(loader)
    batches = iter(loader)
    seen = [backend.to_numpy(next(batches)[1]).tolist() for _ in range(2)]
    state = loader.state_dict()
    rest = [y for _, yb in batches for y in backend.to_numpy(yb).tolist()]
    following = _epoch(loader)

    other = DataLoader(*_data(), batch_size=3, seed=0)
    other.load_state_dict(state)
    assert state["batches_done"] == 2 and len(seen[0] + seen[1] + rest) == 10
    assert _epoch(other) == rest
    assert _epoch(other) == following



def test_state_saved_again_before_iterating_keeps_the_pending_skip():
    loader = DataLoader(*_data(), batch_size=3, seed=2)
    batches = iter(loader)
    next(batches)
    state = loader.state_dict()
    rest = [y for _, yb in batches for y in backend.to_numpy(yb).tolist()]

    other = DataLoader(*_data(), batch_size=3, seed=0)
    other.load_state_dict(state)
    again = other.state_dict()  # e.g. a checkpoint written right after resuming
    assert again["batches_done"] == 1 and again["generator"] == state["generator"]
    third = DataLoader(*_data(), batch_size=3, seed=5)
    third.load_state_dict(again)
    assert _epoch(third) == rest

def test_state_after_last_batch_points_at_next_epoch():
    loader = DataLoader(*_data(), batch_size=5, seed=4)
    batches = iter(loader)
    next(batches), next(batches)  # last batch handed out, iteration not yet finished
    state = loader.state_dict()
    assert state["batches_done"] == 0
    assert list(batches) == []
    following = _epoch(loader)
    other = DataLoader(*_data(), batch_size=5, seed=0)
    other.load_state_dict(state)
    assert _epoch(other) == following


def test_loader_rejects_bad_arguments():
    x, y = _data()
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        DataLoader(x, y[:9], 2)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            DataLoader(x, y, bad)
    loader = DataLoader(x, y, 2)
    with pytest.raises(ValueError, match="missing keys"):
        loader.load_state_dict({"generator": loader.state_dict()["generator"]})
    with pytest.raises(ValueError, match="batches_done=6 is outside 0..5"):
        loader.load_state_dict({**loader.state_dict(), "batches_done": 6})


def test_data_is_placed_on_the_backend_once():
    x, y = _data()
    loader = DataLoader(x, y, 4)
    assert backend.backend_of(loader.x) == backend.current()
    if backend.current() == "cpu":
        assert loader.x is x  # host arrays are used in place on the CPU, no copy


# -- random shifts -----------------------------------------------------------------

def _images(n=12, channels=2, side=5):
    """Images whose pixels are all distinct, so each shift of each image is recognisable; y = sample index."""
    x = np.arange(n * channels * side * side, dtype=np.float32).reshape(n, channels, side, side)
    return x, np.arange(n, dtype=np.int64)


def _shift(image, dr, dc):
    """Reference: pixel (r, c) of the result is pixel (r - dr, c - dc) of `image`, clipped to its edges."""
    h, w = image.shape[-2:]
    rows, cols = np.clip(np.arange(h) - dr, 0, h - 1), np.clip(np.arange(w) - dc, 0, w - 1)
    return image[..., rows[:, None], cols[None, :]]


def _offsets(loader, x):
    """The (dr, dc) each image of one epoch was moved by, in the order served."""
    found = []
    for xb, yb in loader:
        for image, k in zip(backend.to_numpy(xb), backend.to_numpy(yb)):
            matches = [(dr, dc) for dr in range(-3, 4) for dc in range(-3, 4)
                       if np.array_equal(image, _shift(x[k], dr, dc))]
            assert len(matches) == 1, f"sample {k} is no shift of its image"
            found.append(matches[0])
    return found


@pytest.mark.parametrize("shuffle", [True, False])
def test_shift_moves_each_image_by_its_own_offset_within_range(shuffle):
    x, y = _images(40)
    loader = DataLoader(x, y, batch_size=7, seed=3, shuffle=shuffle, shift=2)
    offsets = _offsets(loader, x) + _offsets(loader, x)
    assert all(max(abs(dr), abs(dc)) <= 2 for dr, dc in offsets)
    assert len(set(offsets)) > 12  # most of the 25 possible offsets turn up in 80 draws
    assert {dr for dr, _ in offsets} == {dc for _, dc in offsets} == {-2, -1, 0, 1, 2}
    xb, _ = next(iter(loader))
    assert xb.dtype == np.float32 and xb.shape == (7, 2, 5, 5) and backend.backend_of(xb) == backend.current()


def test_shift_is_reproducible_and_resumes_mid_epoch():
    x, y = _images()
    first = DataLoader(x, y, batch_size=3, seed=4, shift=1)
    second = DataLoader(x, y, batch_size=3, seed=4, shift=1)
    assert _offsets(first, x) == _offsets(second, x)
    batches = iter(first)
    next(batches)
    state = first.state_dict()
    rest = [backend.to_numpy(xb) for xb, _ in batches]
    other = DataLoader(x, y, batch_size=3, seed=0, shift=1)
    other.load_state_dict(state)
    resumed = [backend.to_numpy(xb) for xb, _ in other]
    assert len(resumed) == len(rest) == 3 and all(np.array_equal(a, b) for a, b in zip(resumed, rest))


def test_shift_moves_data_to_the_backend_once_per_epoch(monkeypatch):
    x, y = _images()
    loader = DataLoader(x, y, batch_size=2, seed=1, shift=1)
    copies = []
    real = backend.asarray
    monkeypatch.setattr(backend, "asarray", lambda *a, **k: copies.append(1) or real(*a, **k))
    assert len(list(loader)) == 6 and len(copies) == 1  # the permutation and the offsets, together


def test_shift_rejects_bad_values_and_non_images():
    x, y = _images()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="shift must be a whole number of pixels >= 0"):
            DataLoader(x, y, 2, shift=bad)
    with pytest.raises(ValueError, match=r"shift needs images \(N, C, H, W\), got x of shape \(10, 2\)"):
        DataLoader(*_data(), 2, shift=1)


# -- one process's part of each batch (data-parallel training) -------------------------------------

def _batches(loader):
    return [(backend.to_numpy(xb), backend.to_numpy(yb)) for xb, yb in loader]


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("shuffle, shift, drop_last", [(True, 1, False), (False, 0, False), (True, 0, True)])
def test_the_parts_of_every_process_make_up_the_batches_of_one(world_size, shuffle, shift, drop_last):
    x, y = _images(23)  # batches of 5: the last one holds 3 (or is dropped)
    kw = dict(batch_size=5, seed=6, shuffle=shuffle, shift=shift, drop_last=drop_last)
    whole = DataLoader(x, y, **kw)
    parts = [DataLoader(x, y, rank=r, world_size=world_size, **kw) for r in range(world_size)]
    for _ in range(2):  # two epochs: the same reshuffle on every process
        expected = _batches(whole)
        got = [_batches(p) for p in parts]
        assert all(len(g) == len(expected) == len(whole) == len(p) for g, p in zip(got, parts))
        for i, (xb, yb) in enumerate(expected):
            sizes = [len(g[i][1]) for g in got]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
            np.testing.assert_array_equal(np.concatenate([g[i][0] for g in got]), xb)
            np.testing.assert_array_equal(np.concatenate([g[i][1] for g in got]), yb)


def test_a_part_resumes_from_the_state_of_another_world_size():
    x, y = _images(23)
    two = DataLoader(x, y, batch_size=6, seed=1, shift=1, rank=1, world_size=2)
    batches = iter(two)
    next(batches), next(batches)
    state = two.state_dict()  # global: 2 batches done, whatever the number of processes
    whole = DataLoader(x, y, batch_size=6, seed=9, shift=1)
    whole.load_state_dict(state)
    parts = [DataLoader(x, y, batch_size=6, seed=9, shift=1, rank=r, world_size=3) for r in range(3)]
    for p in parts:
        p.load_state_dict(state)
    got = [_batches(p) for p in parts]
    expected = _batches(whole)
    assert len(expected) == 2
    for i, (xb, yb) in enumerate(expected):
        np.testing.assert_array_equal(np.concatenate([g[i][0] for g in got]), xb)
        np.testing.assert_array_equal(np.concatenate([g[i][1] for g in got]), yb)


def test_parts_refuse_batches_too_small_to_share():
    x, y = _data(10)
    with pytest.raises(ValueError, match="a batch of 1 samples cannot give each of 3 processes one"):
        DataLoader(x, y, batch_size=3, world_size=3)  # batches of 3, 3, 3, 1
    DataLoader(x, y, batch_size=3, world_size=3, drop_last=True)
    with pytest.raises(ValueError, match=r"rank must be an int in 0..1, got 2"):
        DataLoader(x, y, batch_size=5, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size must be a positive int"):
        DataLoader(x, y, batch_size=5, world_size=0)
