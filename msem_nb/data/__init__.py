"""Data containers: validation, complete- and missing-data sufficient statistics."""
