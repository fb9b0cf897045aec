"""Estimation: options, start values, constraints, the optimiser, the pipeline."""
