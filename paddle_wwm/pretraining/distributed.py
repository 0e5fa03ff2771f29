"""The distributed context of a run: one process, or one of N started by
``python -m paddle.distributed.launch`` (fleet collective: NCCL on GPUs, gloo on CPU)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import paddle


@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            paddle.distributed.barrier()

    def all_reduce_sum(self, tensor: paddle.Tensor) -> paddle.Tensor:
        if self.world_size > 1:
            paddle.distributed.all_reduce(tensor)
        return tensor

    def all_gather_object(self, obj) -> list:
        if self.world_size == 1:
            return [obj]
        gathered: list = []
        paddle.distributed.all_gather_object(gathered, obj)
        return gathered


def gpu_available() -> bool:
    return paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def init_context() -> Context:
    """Set the device and, under paddle.distributed.launch, start fleet collective training."""
    device = "gpu" if gpu_available() else "cpu"
    paddle.set_device(device)
    world_size = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    if world_size <= 1:
        return Context(0, 1, device)
    from paddle.distributed import fleet

    fleet.init(is_collective=True)
    if device == "cpu":
        # N processes share the machine's cores: one process per core group, not N x all cores.
        from paddle_wwm import runtime

        local = int(os.environ.get("PADDLE_LOCAL_SIZE", os.environ.get("PADDLE_TRAINERS_NUM", "1")))
        runtime.configure_cpu(max(1, runtime.default_num_threads() // max(1, local)))
    return Context(paddle.distributed.get_rank(), paddle.distributed.get_world_size(), device)
