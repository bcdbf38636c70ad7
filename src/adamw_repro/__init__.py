"""Reproduce "Decoupled Weight Decay Regularization" (Loshchilov & Hutter, 2019) on GPT-2 replicas.

One module per pipeline stage; each stage is a function that tests call and a ``python -m``
entry point that a thin Snakemake rule calls.
"""
