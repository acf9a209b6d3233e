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
# How long torch's OpenMP threads spin before sleeping at a barrier. Decoding a token passes
# hundreds of barriers, and waking a sleeping thread costs more than most of those operators on a
# virtual machine: passive waiting halved the int4 starter's decode on 2 cores (17 tokens/s
# against 41-44 with 100000 spins; 10000 gave 34). Beside a training process a spinning chat would
# steal its partner's core, which is why ChatEngine decodes on one thread while a run is live
# (30 tokens/s there, whatever the training process spins). Must precede torch's import.
os.environ.setdefault("GOMP_SPINCOUNT", "100000")
