"""The Slack face of the bot: Bolt listeners, Block Kit builders and the Slack notifier."""
