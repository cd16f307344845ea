"""Commands for a live account (boto3 and PostgreSQL's own client binaries): preflight before a first
deploy, backup, restore, live validation against the pack's rules, health. Each is tested against a
moto server and a real PostgreSQL; all follow the convention in `scripts.cli`."""
