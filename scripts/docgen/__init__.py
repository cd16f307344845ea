"""Generators of docs that would drift if kept by hand: the component reference (from the Args'
field docstrings) and the policy catalogue (from the registry). Tests fail when a committed copy is stale."""
