"""PaddleHub module chinese-bert-wwm (paddle-wwm).

BERT-wwm: Chinese Wikipedia (0.4B tokens), LAMB, NSP, from Google BERT (12 layers, hidden 768, 12 heads; weights hfl/chinese-bert-wwm)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='chinese-bert-wwm',
    version='0.1.0',
    summary='BERT-wwm: Chinese Wikipedia (0.4B tokens), LAMB, NSP, from Google BERT (12 layers, hidden 768, 12 heads; weights hfl/chinese-bert-wwm)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class ChineseBertWwm(WWMTransformerModule):
    zoo_name = 'chinese-bert-wwm'
