"""Converters from the formats Llama models ship in to a Hugging Face folder."""
