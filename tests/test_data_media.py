"""Frame-rate resampling, decoding by frame number, resize and crop, buckets, batch plans."""

import numpy as np
import pytest

from kinema.data.buckets import Bucket, assign_bucket, default_buckets, stage_buckets
from kinema.data.media import MediaError, image_clip, probe, video_clip
from kinema.data.plan import BatchPlan
from kinema.data.resample import available_frames, frame_offsets, last_start, source_indices
from kinema.data.video_io import write_mp4
from kinema.presets import get_preset


@pytest.fixture(scope="module")
def counting_video(tmp_path_factory):
    """120 frames at 24 fps that show their own number: i // 16 on the left, i % 16 right."""
    path = tmp_path_factory.mktemp("counting") / "count.mp4"
    frames = np.zeros((120, 48, 64, 3), np.uint8)
    for i in range(120):
        frames[i, :, :32] = (i // 16) * 16
        frames[i, :, 32:] = (i % 16) * 16
    write_mp4(frames, path, fps=24)
    return path


def frame_numbers(clip: np.ndarray) -> list[int]:
    """Which counting-video frames a decoded (T, H, W, 3) clip holds."""
    left = np.rint(clip[:, :, 2, 0].mean(1) / 16).astype(int)
    right = np.rint(clip[:, :, -3, 0].mean(1) / 16).astype(int)
    return (left * 16 + right).tolist()


def test_resampling_picks_the_nearest_source_frames():
    assert frame_offsets(4, 24, 8) == [0, 3, 6, 9]  # a third of the frames
    assert frame_offsets(5, 10, 4) == [0, 3, 5, 8, 10]  # 2.5 apart, halves round up
    assert frame_offsets(5, 4, 8) == [0, 1, 1, 2, 2]  # slower source: frames repeat
    assert source_indices(7, 3, 30, 10) == [7, 10, 13]
    assert available_frames(16, 8, 4) == 8  # 2 s at 8 fps hold 8 frames at 4 fps
    assert available_frames(25, 24, 8) == 9
    assert available_frames(1, 24, 8) == 1
    assert last_start(16, 5, 8, 4) == 7  # offsets 0..8 must end by frame 15
    assert last_start(8, 5, 8, 4) == -1  # too short: no start fits


def test_decoding_returns_exactly_the_planned_frames(counting_video):
    info = probe(counting_video)
    assert (info.num_frames, info.height, info.width, info.fps) == (120, 48, 64, 24.0)
    for start in (0, 50, 90):  # 50 and 90 seek past key frames
        wanted = source_indices(start, 9, 24.0, 8.0)
        clip = video_clip(counting_video, wanted, 24.0, 16, 16)
        assert clip.shape == (9, 16, 16, 3) and clip.dtype == np.uint8
        assert frame_numbers(clip) == wanted
    clip = video_clip(counting_video, [40, 40, 41, 41], 24.0, 32, 64)  # repeats, no resize
    assert frame_numbers(clip) == [40, 40, 41, 41]
    with pytest.raises(MediaError, match="ends at frame 119"):
        video_clip(counting_video, [118, 119, 120], 24.0, 16, 16)


def test_resize_covers_then_crops_the_centre(tmp_path):
    # A 64x32 image: left half black, right half white, a red stripe at the centre.
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, 32:] = 255
    image[:, 31:33] = (255, 0, 0)
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "wide.png")
    square = image_clip(tmp_path / "wide.png", 16, 16)
    assert square.shape == (1, 16, 16, 3)
    # Covering 16x16 keeps the aspect (32x16) and crops the middle: stripe in the centre.
    assert square[0, 8, 0, 2] < 40 and square[0, 8, 15, 2] > 215
    assert abs(int(square[0, 8, 7, 0]) - 128) < 10 and square[0, 8, 7, 1] < 10  # black + red
    tall = image_clip(tmp_path / "wide.png", 32, 8)
    assert tall.shape == (1, 32, 8, 3)


def test_buckets_by_aspect_ratio():
    buckets = [
        Bucket(64, 64, 17, 4),
        Bucket(48, 80, 17, 2),  # 16:9-ish landscape
        Bucket(80, 48, 17, 2),  # portrait
        Bucket(48, 80, 9, 4),
        Bucket(64, 64, 1, 32),
    ]
    assert assign_bucket(90, 90, 40, False, buckets) == 0  # 1:1
    assert assign_bucket(1080, 1920, 40, False, buckets) == 1  # 16:9
    assert assign_bucket(1920, 1080, 40, False, buckets) == 2  # 9:16
    assert assign_bucket(1080, 1920, 12, False, buckets) == 3  # too short for 17 frames
    assert assign_bucket(1080, 1920, 5, False, buckets) is None  # too short for any
    assert assign_bucket(300, 500, 1, True, buckets) == 4  # images go to image buckets


def test_default_buckets_fit_the_model():
    cfg = get_preset("debug")
    shapes = {(b.height, b.width, b.frames) for b in default_buckets(16, 16, 5, cfg.model)}
    assert shapes == {(h, w, t) for h, w in [(16, 16), (16, 24), (24, 16)] for t in (5, 1)}
    sizes = {b.shape: b.batch_size for b in stage_buckets(cfg, 4)}
    assert sizes[(16, 16, 5)] == 4 and sizes[(16, 16, 1)] == 20  # same pixels per batch


def test_plan_is_a_pure_function_of_seed_and_step():
    groups = {0: list(range(10)), 1: list(range(10, 13)), 2: list(range(20, 30))}
    sizes = {0: 3, 1: 2, 2: 5}

    def plan(seed, ratio=0.25):
        return BatchPlan(groups, sizes, {2}, ratio, seed)

    first = [plan(3)(s) for s in range(40)]
    assert first == [plan(3)(s) for s in range(40)]
    assert [plan(3)(s) for s in (39, 7, 0)] == [first[39], first[7], first[0]]  # any order
    assert first != [plan(4)(s) for s in range(40)]
    assert sum(b.bucket == 2 for b in first) == 10  # exactly a quarter are image steps
    for batch in first:
        assert len(batch.items) == sizes[batch.bucket] and set(batch.items) <= set(
            groups[batch.bucket]
        )
    # One video epoch is 4 + 2 batches and shows every video item at least once.
    video = [b for b in first if b.bucket != 2][:6]
    assert {i for b in video for i in b.items} == set(range(13))
    assert plan(3, ratio=0.0)(5).bucket != 2
