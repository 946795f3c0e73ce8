"""The golden MIME corpus, one module per message set; scripts/make_corpus.py writes it."""
