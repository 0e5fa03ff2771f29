from setuptools import find_packages, setup

TEST_REFERENCES = [
    "pytest",
    "torch",  # transformers' reference models run on torch (CPU)
    "transformers",
    "paddlenlp",
    "crc32c",  # TensorFlow checkpoints: the data checksums are verified where it is installed
    "tensorflow-cpu",  # writes and reads Google-format BERT checkpoints in the tests
    "ltp",  # the seed's segmenter: a perceptron model is trained and used in the tests
    "onnxruntime",  # runs ONNX exports in the tests
    "paddle2onnx",  # paddle-wwm export --format onnx
    "paddlehub",  # hub_modules/: hub install, hub.Module, hub.Trainer
]

setup(
    name="paddle-wwm",
    version="0.1.0",
    description="PaddlePaddle model zoo for the Chinese BERT whole-word-masking family",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["paddle_wwm", "paddle_wwm.*"]) + ["paddle_wwm.configs"],
    # configs/ lives at the top of the repository; a wheel carries it inside the package.
    package_dir={"paddle_wwm.configs": "configs"},
    package_data={"paddle_wwm": ["data/*.txt", "data/*.json", "data/*.md"],
                  "paddle_wwm.configs": ["models/*.json", "*/*.yaml"]},
    include_package_data=True,
    install_requires=[
        "paddlepaddle>=3.0",
        "numpy",
        "safetensors",
        "tokenizers",
        "tqdm",
        "pyyaml",
        "jieba",  # the default segmenter for whole word masking: offline, ships its dictionary
        "nltk",  # word tokenizer of the official CMRC 2018 / DRCD metric (mrc_metric.py)
    ],
    extras_require={
        "hub": ["paddlehub"],
        "onnx": ["paddle2onnx", "onnxruntime"],
        "paddlenlp": ["paddlenlp"],
        "ltp": ["ltp"],
        "tensorflow": ["tensorflow-cpu"],
        "test": TEST_REFERENCES,
    },
    entry_points={"console_scripts": ["paddle-wwm=paddle_wwm.cli:main"]},
)
