"""The model: parameter table, RAM matrices per block, implied moments."""
