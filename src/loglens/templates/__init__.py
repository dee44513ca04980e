"""Log template mining: masking, clustering of distinct masked messages, stable ids.

miner = TemplateMiner().fit(messages)
table = miner.assign(messages, parameters=True)   # template_id, template, parameters
state = miner.to_json()                            # JSON, never a pickle
"""

from loglens.templates.clustering import cluster
from loglens.templates.masks import MASKS, WILDCARD, Mask, mask_array, mask_message
from loglens.templates.miner import TemplateMiner
from loglens.templates.state import Template, TemplateStateError, template_id
from loglens.templates.tokens import canonical_token, tokenize

__all__ = [
    "MASKS",
    "WILDCARD",
    "Mask",
    "Template",
    "TemplateMiner",
    "TemplateStateError",
    "canonical_token",
    "cluster",
    "mask_array",
    "mask_message",
    "template_id",
    "tokenize",
]
