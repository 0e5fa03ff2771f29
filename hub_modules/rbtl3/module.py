"""PaddleHub module rbtl3 (paddle-wwm).

RBTL3: first 3 layers of RoBERTa-wwm-ext-large (3 layers, hidden 1024, 16 heads; weights hfl/rbtl3)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='rbtl3',
    version='0.1.0',
    summary='RBTL3: first 3 layers of RoBERTa-wwm-ext-large (3 layers, hidden 1024, 16 heads; weights hfl/rbtl3)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class Rbtl3(WWMTransformerModule):
    zoo_name = 'rbtl3'
