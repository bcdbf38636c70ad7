"""Training (train.smk's training jobs): the GPT-2 replicas, their optimizers, the training loop
and its checkpoints, and the plan the workflow prints before its first job."""
