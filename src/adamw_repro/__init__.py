"""Reproduce "Decoupled Weight Decay Regularization" (Loshchilov & Hutter, 2019) on GPT-2 replicas.

The subpackages follow the workflow's stages (``workflow/rules/``): ``data`` (corpus, tokenizer,
token shards), ``training`` (the model, optimizers and training loop), ``analysis`` (selection,
tables of runs, gates, statistics, the claims ledger and the cross-study stage) and ``report``
(LaTeX tables, figures, the paper). The modules at the top are shared by every stage: what a
study is (``config``, ``registry``, ``design``, ``jobs``, ``schedule``) and how results are written
(``atomic``, ``provenance``). Each stage module has one entry, ``run(input, output, params)``,
which its rule calls with the rule's named files (``workflow/scripts/``, ``stage``) and tests
call with the same names; training, ``plan``, ``shards verify`` and ``config readme`` keep the
command lines people type.
"""
