"""The sandbox: a local Slack workspace emulator and simulated hubs, for trying the bot."""
