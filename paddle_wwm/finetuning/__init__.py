"""Fine-tuning and evaluation on the seed's benchmarks: task readers (``readers.py``, SQuAD-format
files through ``squad.py``), the task objects (``tasks/``: encode, loss, predict, score per kind of
task), span features with doc_stride windows and n-best decoding (``span_features.py``), the
official metrics (``mrc_metric.py``), one run (``one_run.py``) and the multi-seed runner."""
