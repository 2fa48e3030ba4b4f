"""failover-bot: Slack chat-ops for Azure IoT Hub manual failover."""

__version__ = "0.1.0"
