"""Tooling around the Pulumi program, one package per subsystem; `cli.py` is the convention they share.

| package | what it is for | commands (`python -m ...`) |
| --- | --- | --- |
| `engine` | the offline engine: the real program under the SDK's mocks, the preview it writes, benchmarks | `scripts.engine.preview`, `scripts.engine.bench` |
| `documents` | the one reader and resource model for Pulumi documents (offline preview, `pulumi preview --json`, `pulumi stack export`), and Pulumi's secret envelope | (library) |
| `report` | the policy gate: the pack asked over the Analyzer protocol, Findings, waivers, every output format | `scripts.report.policy_report` |
| `checkov_bridge` | checkov on Pulumi plans: conversion to a Terraform plan, the scan, results mapped back to URNs | `scripts.checkov_bridge.tfplan`, `scripts.checkov_bridge.scan` |
| `ops` | commands for a live account: AWS and PostgreSQL helpers, backup, restore, validate, health, preflight | `scripts.ops.backup`, `scripts.ops.restore`, ... |
| `docgen` | generators of the docs that must not drift from the code | `scripts.docgen.component_docs`, `scripts.docgen.policy_docs`, `scripts.docgen.live_coverage` |

The shell scripts here (`deploy-production-secure.sh`, `backup.sh`, ...) are thin entry points for
people; every rule and value they use lives in the Python packages.
"""
