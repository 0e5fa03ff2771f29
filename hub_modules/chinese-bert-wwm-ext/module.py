"""PaddleHub module chinese-bert-wwm-ext (paddle-wwm).

BERT-wwm-ext: 5.4B tokens, LAMB, 1M@128 + 400K@512 (12 layers, hidden 768, 12 heads; weights hfl/chinese-bert-wwm-ext)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='chinese-bert-wwm-ext',
    version='0.1.0',
    summary='BERT-wwm-ext: 5.4B tokens, LAMB, 1M@128 + 400K@512 (12 layers, hidden 768, 12 heads; weights hfl/chinese-bert-wwm-ext)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class ChineseBertWwmExt(WWMTransformerModule):
    zoo_name = 'chinese-bert-wwm-ext'
