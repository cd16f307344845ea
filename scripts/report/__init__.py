"""The policy gate's report: the pack asked over the Analyzer protocol (`analyzer`), its answers and
checkov's turned into Findings (`findings`, `evaluate`) with waivers applied, and every output format
(`formats`). The command is `python -m scripts.report.policy_report`."""
