"""The audit store: failover requests with their whole life, and an append-only event log."""
