"""Pure types and rules: no I/O, no Slack, no Azure, no SQL."""
