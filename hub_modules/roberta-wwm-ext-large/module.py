"""PaddleHub module roberta-wwm-ext-large (paddle-wwm).

RoBERTa-wwm-ext-large: 24 layers, random init, 2M steps (24 layers, hidden 1024, 16 heads; weights hfl/chinese-roberta-wwm-ext-large)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='roberta-wwm-ext-large',
    version='0.1.0',
    summary='RoBERTa-wwm-ext-large: 24 layers, random init, 2M steps (24 layers, hidden 1024, 16 heads; weights hfl/chinese-roberta-wwm-ext-large)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class RobertaWwmExtLarge(WWMTransformerModule):
    zoo_name = 'chinese-roberta-wwm-ext-large'
