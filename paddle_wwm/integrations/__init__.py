"""The zoo's models in other tools: exports for PaddleNLP Taskflow, Paddle Inference and ONNX
(``export.py``), and PaddleHub modules (``hub_packaging.py`` writes and installs the module
directories; ``hub_module.py`` is the base class of every module.py; ``hub_tasks.py`` holds one
adapter per PaddleHub task, the classification and qa ones built on the fine-tuning task objects)."""
