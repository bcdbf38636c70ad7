"""Data (data.smk): split a corpus, train or load the tokenizer, write token shards."""
