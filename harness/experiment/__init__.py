"""Experiment stage: the YAML schema (one definition, used everywhere), the run matrix
expanded from it, and the selection of runs (--only, --shard, --resume)."""
