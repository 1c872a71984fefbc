"""Leaf services the other packages use: Jittor set-up (runtime), errors, the registry type, atomic writes,
checkpoints, optimizers, metrics, visualisation, logs, MPI helpers and the benchmark report. Nothing here
imports a model, a dataset or the pipeline."""
