"""Benchmarks and the PyTorch ports used to compare against them."""
