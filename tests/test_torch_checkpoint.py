"""pytorch_model.bin read with numpy alone (paddle_wwm/checkpoints/torch_format.py).

Files are written by torch itself in both of its formats; they are read in a process where torch
cannot be imported, and compared with what torch.load returns."""
import collections
import os
import pickle
import zipfile

import numpy as np
import paddle
import pytest
import torch
import transformers

from conftest import TINY, padded_batch, randomize_torch_model
from hidden_imports import run_without_torch_and_tensorflow
from paddle_wwm import BertModel
from paddle_wwm.checkpoints import CheckpointError
from paddle_wwm.checkpoints.torch_format import read_torch_state

READ_STATE = """
from paddle_wwm.checkpoints.torch_format import read_torch_state
result = read_torch_state(sys.argv[2])
"""


def as_numpy(tensor):
    return (tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor).numpy()


def sample_state():
    generator = torch.Generator().manual_seed(5)
    base = torch.randn(6, 4, generator=generator)
    shared = torch.randn(5, 3, generator=generator)
    state = collections.OrderedDict(
        fp32=base, fp16=torch.randn(3, 5, generator=generator).half(),
        bf16=torch.randn(2, 7, generator=generator).bfloat16(),
        int64=torch.arange(10, dtype=torch.int64).reshape(2, 5), scalar=torch.tensor(3.5),
        tied_a=shared, tied_b=shared,  # one storage, two names (tied embeddings)
        transposed=base.t(), row_slice=base[2:5], column_slice=base[:, 1:3],  # views into fp32's storage
        expanded=torch.randn(1, 4, generator=generator).expand(3, 4),  # stride 0
    )
    state._metadata = collections.OrderedDict({"": {"version": 1}})
    return state


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_tensors_equal_torch_load_without_torch(tmp_path, legacy):
    path = tmp_path / "pytorch_model.bin"
    torch.save(sample_state(), path, _use_new_zipfile_serialization=not legacy)
    assert zipfile.is_zipfile(path) is not legacy
    got = run_without_torch_and_tensorflow(READ_STATE, tmp_path, path)
    reference = torch.load(path, weights_only=True)
    assert list(got) == list(reference)
    for name, tensor in reference.items():
        expected = as_numpy(tensor)
        assert got[name].dtype == expected.dtype and got[name].shape == expected.shape, name
        assert np.array_equal(got[name], expected), name
    assert reference["fp16"].dtype == torch.float16 and got["fp16"].dtype == np.float32


def test_a_big_endian_zip_checkpoint_is_byte_swapped(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 7}
    torch.save(state, path)
    swapped = tmp_path / "big.bin"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(swapped, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                data = np.frombuffer(data, "<f4").astype(">f4").tobytes()
            target.writestr(info, data)
    assert np.array_equal(read_torch_state(swapped)["w"], state["w"].numpy())


class RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, legacy):
    marker = tmp_path / "code_ran"
    path = tmp_path / "pytorch_model.bin"
    payload = pickle.dumps({"weight": RunsCode(marker)}, protocol=2)
    if legacy:
        path.write_bytes(payload)
    else:
        torch.save({"w": torch.zeros(2)}, path)
        rewrite_pickle(path, lambda data: payload)
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin.*refusing.*(posix|os)\.system"):
        read_torch_state(path)
    assert not marker.exists()


def rewrite_pickle(path, edit):
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    with zipfile.ZipFile(path, "w") as target:
        for name, data in members.items():
            target.writestr(name, edit(data) if name.endswith("data.pkl") else data)


@pytest.mark.parametrize("stride", [b"J\xfc\xff\xff\xff", b"K\x05"], ids=["negative", "past_the_end"])
def test_a_stride_reaching_outside_its_storage_is_refused(tmp_path, stride):
    path = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.zeros(3, 4)}, path)
    stride_tuple = b"K\x04K\x01\x86"  # (4, 1) as protocol 2 pickles it
    rewrite_pickle(path, lambda data: data.replace(stride_tuple, stride + b"K\x01\x86", 1))
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: not a readable torch weights file .*stride"):
        read_torch_state(path)


def test_a_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    torch.save(sample_state(), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        read_torch_state(path)


CONVERT = """
from paddle_wwm.checkpoints import convert, read_checkpoint
convert(sys.argv[2], sys.argv[3])
result = read_checkpoint(sys.argv[2]).layout
"""


def test_transformers_bin_converted_without_torch_gives_transformers_outputs(tmp_path):
    reference = randomize_torch_model(transformers.BertModel(transformers.BertConfig(**TINY)), seed=4).eval()
    reference.save_pretrained(tmp_path / "hf", safe_serialization=False)
    assert (tmp_path / "hf" / "pytorch_model.bin").is_file()
    layout = run_without_torch_and_tensorflow(CONVERT, tmp_path, tmp_path / "hf", tmp_path / "ours")
    assert layout == "huggingface"
    ours = BertModel.from_pretrained(tmp_path / "ours")
    batch = padded_batch(seed=2)
    with paddle.no_grad():
        sequence, pooled = ours(*(paddle.to_tensor(a) for a in batch[:1]), token_type_ids=paddle.to_tensor(batch[1]),
                                attention_mask=paddle.to_tensor(batch[2]))
    with torch.no_grad():
        out = reference(*(torch.from_numpy(a) for a in batch[:1]), token_type_ids=torch.from_numpy(batch[1]),
                        attention_mask=torch.from_numpy(batch[2]))
    assert np.abs(sequence.numpy() - out.last_hidden_state.numpy()).max() <= 1e-5
    assert np.abs(pooled.numpy() - out.pooler_output.numpy()).max() <= 1e-5
