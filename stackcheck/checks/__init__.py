"""Pure functions that judge API responses and return the problems found, as readable lines.

The suites poll these until the list is empty or the budget ends; tests/ feed them the real captured
responses from shared/contracts, so every message is tested.
"""
