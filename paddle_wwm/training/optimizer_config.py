"""The ``optimizer`` section of the pre-training and fine-tuning recipes (paddle-free, so that a
recipe is checked before paddle loads)."""
from __future__ import annotations

from dataclasses import dataclass

OPTIMIZERS = ("adamw", "lamb")


@dataclass
class OptimizerSection:
    name: str = "adamw"  # one of OPTIMIZERS
    learning_rate: float = 1e-4
    warmup_steps: int | None = None
    warmup_proportion: float = 0.01  # used when warmup_steps is None
    weight_decay: float = 0.01  # never on LayerNorm weights and biases
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-6
    max_grad_norm: float | None = 1.0  # global-norm clipping; None disables it

    def warmup_for(self, max_steps: int) -> int:
        """Warmup steps: warmup_steps when set, else warmup_proportion of max_steps."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return int(round(self.warmup_proportion * max_steps))

    def problems(self) -> list[tuple[str, str]]:
        """(key, what is wrong) for every value out of range; empty when the section is usable.
        The recipe reader (:mod:`paddle_wwm.sectioned_config`) reports the first one."""
        checks = [
            (self.name in OPTIMIZERS, "name", f"must be one of {OPTIMIZERS}, got {self.name!r}"),
            (self.learning_rate > 0, "learning_rate", f"must be positive, got {self.learning_rate}"),
            (self.warmup_steps is None or self.warmup_steps >= 0, "warmup_steps",
             f"must be >= 0, got {self.warmup_steps}"),
            (0 <= self.warmup_proportion < 1, "warmup_proportion",
             f"must lie in [0, 1), got {self.warmup_proportion}"),
            (self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1/beta2",
             f"must lie in [0, 1), got {self.beta1}, {self.beta2}"),
            (self.epsilon > 0, "epsilon", f"must be positive, got {self.epsilon}"),
            (self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm",
             f"must be positive or null, got {self.max_grad_norm}"),
        ]
        return [(key, message) for ok, key, message in checks if not ok]
