"""The offline policy report: read a preview or a stack export, ask the pack over the Analyzer
protocol, apply waivers, and write findings in the format the reader needs."""
