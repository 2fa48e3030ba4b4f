"""The sandbox: a local Slack workspace emulator and a simulated fleet of IoT Hubs, for trying
the bot (``failover-bot sandbox``), testing it and benchmarking it.

A sibling of the product package ``bot``, shipped in the same wheel but never imported by it
(an import-linter contract); ``bot.cli`` finds the ``sandbox`` command through the
``failover_bot.commands`` entry point (``failover_sandbox.command``). The container image
leaves this package out."""
