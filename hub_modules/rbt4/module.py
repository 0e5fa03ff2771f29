"""PaddleHub module rbt4 (paddle-wwm).

RBT4: 4 layers of RoBERTa-wwm-ext (4 layers, hidden 768, 12 heads; weights hfl/rbt4)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='rbt4',
    version='0.1.0',
    summary='RBT4: 4 layers of RoBERTa-wwm-ext (4 layers, hidden 768, 12 heads; weights hfl/rbt4)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class Rbt4(WWMTransformerModule):
    zoo_name = 'rbt4'
