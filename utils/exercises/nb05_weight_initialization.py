"""Exercises of 05_weight_initialization (registered by the notebook's author)."""
