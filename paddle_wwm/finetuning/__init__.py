"""Fine-tuning and evaluation on the seed's benchmarks: task readers (``readers.py``), span
features with doc_stride windows and n-best decoding (``span_features.py``), the official metrics
(``mrc_metric.py``), and the multi-seed runner."""
