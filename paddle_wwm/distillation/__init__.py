"""Knowledge distillation of a fine-tuned teacher into a smaller student (Hinton et al. 2015, as
HFL's TextBrewer runs it for the family's small models), on the layers below: the task objects and
data of ``finetuning``, the one training loop of ``training``, the checkpoints of the store.

``losses.py`` (soft targets at a temperature, hard labels, hidden-state and attention matching),
``config.py`` (the recipes of configs/distill/, paddle-free), ``models.py`` (the frozen teacher,
the student from a model config or from chosen layers of a checkpoint), ``run.py`` (one run:
``run_distill(load_distill_config(task, recipe, overrides))``).
"""
