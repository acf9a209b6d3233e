"""LoRA training: continued pre-training on raw text and supervised fine-tuning on conversations.

Modules: `spec` (the job, as JSON), `memory` (will it fit, and what to change if not), `data`
(token ids from corpora), `runs` (the runs/<id>/ folders: spec, progress log, checkpoints, cluster
export), `runner` (the training loop, one process or many under `accelerate launch`).
Nothing is re-exported here, so importing `spec` does not load torch."""
