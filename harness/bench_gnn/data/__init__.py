"""Data access: dataset cards, verified raw files, the writable cache, graph statistics."""
