"""Entry point the Pulumi CLI runs: it only builds the pack (which serves the Analyzer protocol)."""

from tradesense_policies.pack import serve

serve()
