"""Checkpoint folders are replaced in one rename, and a killed writer's leftovers go."""

import pytest

from kinema.checkpoint import atomic_directory


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    final = tmp_path / "step-00000010"
    with atomic_directory(final) as folder:
        (folder / "weights").write_text("first")
    with pytest.raises(RuntimeError), atomic_directory(final) as folder:
        (folder / "weights").write_text("half")
        raise RuntimeError("killed while writing")
    assert (final / "weights").read_text() == "first"  # the failed write changed nothing
    with atomic_directory(final) as folder:
        (folder / "weights").write_text("second")
    assert (final / "weights").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000010"]


def test_a_killed_writers_temporary_folder_is_removed(tmp_path):
    final = tmp_path / "step-00000020"
    leftover = tmp_path / ".step-00000020.tmp-999999"  # another process, killed mid-write
    leftover.mkdir()
    (leftover / "weights").write_text("partial")
    with atomic_directory(final) as folder:
        (folder / "weights").write_text("whole")
    assert not leftover.exists() and (final / "weights").read_text() == "whole"
