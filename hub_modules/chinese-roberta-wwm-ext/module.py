"""PaddleHub module chinese-roberta-wwm-ext (paddle-wwm).

RoBERTa-wwm-ext: AdamW, no NSP, 1M steps at 512 (12 layers, hidden 768, 12 heads; weights hfl/chinese-roberta-wwm-ext)

Written by paddle_wwm.integrations.hub_packaging.write_module_dir; all it does lives in
paddle_wwm.integrations.hub_module.WWMTransformerModule (pip install "paddle-wwm[hub]").
"""
from paddlehub.module.module import moduleinfo

from paddle_wwm.integrations.hub_module import WWMTransformerModule


@moduleinfo(
    name='chinese-roberta-wwm-ext',
    version='0.1.0',
    summary='RoBERTa-wwm-ext: AdamW, no NSP, 1M steps at 512 (12 layers, hidden 768, 12 heads; weights hfl/chinese-roberta-wwm-ext)',
    author="paddle-wwm",
    author_email="",
    type="nlp/semantic_model",
)
class ChineseRobertaWwmExt(WWMTransformerModule):
    zoo_name = 'chinese-roberta-wwm-ext'
