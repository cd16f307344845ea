"""Pulumi documents: the one reader and resource model for the offline preview, a real
`pulumi preview --json` and a `pulumi stack export`, and Pulumi's secret envelope. The report, the
checkov bridge and the pack adapter all read through here, so they judge the same resources."""
