"""Exercises of 04_activation_functions (registered by the notebook's author)."""
