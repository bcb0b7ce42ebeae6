"""tsexplain."""
