"""The ways users call the models outside this package: PaddleNLP Taskflow and Paddle Inference
exports (``export.py``)."""
