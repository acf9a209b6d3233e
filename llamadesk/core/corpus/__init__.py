"""Training and evaluation data: reading the user's files (any common type and encoding),
recognising instruction formats, storing corpora, and turning them into token ids.

Modules: `reading` (files, encodings, streaming), `instructions` (Alpaca, ShareGPT, OpenAI
messages, question/answer tables), `scan` (passages, de-duplication, split, counts, preview),
`store` (corpora in the data dir), `packing` (token blocks and masked chat examples).
Nothing is re-exported here, so importing one of them loads no more than it needs."""
