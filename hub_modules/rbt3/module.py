"""PaddleHub module rbt3 (paddle-wwm).

RBT3: first 3 layers of RoBERTa-wwm-ext, 1M more steps (3 layers, hidden 768, 12 heads; weights hfl/rbt3)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='rbt3',
    version='0.1.0',
    summary='RBT3: first 3 layers of RoBERTa-wwm-ext, 1M more steps (3 layers, hidden 768, 12 heads; weights hfl/rbt3)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class Rbt3(WWMTransformerModule):
    zoo_name = 'rbt3'
