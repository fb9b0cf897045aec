"""Inference from an estimation: standard errors, tests, fit measures, intervals."""
