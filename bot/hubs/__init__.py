"""The gateway to IoT Hubs: a protocol and its Azure and simulated implementations."""
