"""Analysis: each optimizer's selected configuration (train.smk's selection rules), tables of
runs, the gates, statistics and the claims ledger (aggregate.smk), and the cross-study stage of
a ladder (ladder.smk)."""
