"""Chat grounded in the user's documents: passages of a corpus (or of files named on the spot) are
retrieved for each question with BM25 and put before it with their sources, so a model that never
saw the documents can answer from them, and the user can see which passages it was given.

`terms` turns text into the words BM25 counts (jieba for Chinese, a Snowball stemmer for English);
`index` cuts documents into passages and keeps one BM25 index per corpus on disk; `prompt` places
the retrieved passages in the conversation."""
