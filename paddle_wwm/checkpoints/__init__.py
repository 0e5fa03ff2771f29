from .layouts import LAYOUT_NAMES, Checkpoint, convert, read_checkpoint, write_checkpoint
from .model_state import canonical_state, load_state, save_model, truncate_layers
from .tensor_files import CheckpointError

__all__ = ["LAYOUT_NAMES", "Checkpoint", "CheckpointError", "convert", "read_checkpoint", "write_checkpoint",
           "canonical_state", "load_state", "save_model", "truncate_layers"]
