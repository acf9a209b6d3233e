"""LlamaDesk: private local Llama models — library, chat, adapters, training, evaluation."""

import os

__version__ = "0.1.0"

# Privacy is the product: no hub look-ups, no telemetry, whatever the user's environment says.
# Set before any Hugging Face library is imported, which all happens lazily after this.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
# Our own progress reporting replaces the libraries' console bars.
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# LlamaDesk runs chat and a training process side by side. OpenMP's default spin-waiting makes
# two processes that each use every core slow each other down thirtyfold, and passive waiting
# halves a lone chat's decode speed (every small matmul then wakes sleeping threads). A short
# spin keeps both: see bench/RESULTS.md for the figures. Must precede torch.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")
