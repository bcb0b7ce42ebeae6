"""Random bytes that make torch's unpickler raise KeyError or struct.error still get our named error."""

from __future__ import annotations

import pytest

from tsexplain.utils.checkpoint import CheckpointError, safe_load


@pytest.mark.parametrize("data", [b"hZ\x9f\xdd\x9d\x02\xf1\xc8x\xabd\xaf", b"\x80\x02j\xa4_\x1a"],
                         ids=["keyerror", "struct_error"])
def test_garbage_that_trips_the_unpickler_is_named_with_the_fix(tmp_path, data):
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"model.ckpt_path=.*garbage.ckpt is not a readable PyTorch checkpoint"):
        safe_load(path, "model.ckpt_path")
