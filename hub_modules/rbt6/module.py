"""PaddleHub module rbt6 (paddle-wwm).

RBT6: 6 layers of RoBERTa-wwm-ext (6 layers, hidden 768, 12 heads; weights hfl/rbt6)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='rbt6',
    version='0.1.0',
    summary='RBT6: 6 layers of RoBERTa-wwm-ext (6 layers, hidden 768, 12 heads; weights hfl/rbt6)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class Rbt6(WWMTransformerModule):
    zoo_name = 'rbt6'
