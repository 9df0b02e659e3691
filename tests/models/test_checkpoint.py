import pytest
import torch

from forgeseg.core.errors import DataError
from forgeseg.models.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_loads_with_weights_only(tmp_path):
    path = tmp_path / "model.pt"
    state = {"w": torch.arange(4.0)}
    save_checkpoint(path, {"model_cfg": {"arch": "unet"}, "size": 64, "state_dict": state})
    ckpt = load_checkpoint(path)
    assert ckpt["size"] == 64
    torch.testing.assert_close(ckpt["state_dict"]["w"], state["w"])


def test_missing_foreign_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(DataError, match=r"foreign\.pt: not a forgeseg checkpoint"):
        load_checkpoint(foreign)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match=r"corrupt\.pt: not a loadable checkpoint"):
        load_checkpoint(corrupt)


class Evil:
    """A class a weights-only load must refuse to rebuild."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "forgeseg-checkpoint-v1", "obj": Evil()}, path)
    with pytest.raises(DataError, match="not a loadable checkpoint"):
        load_checkpoint(path)
