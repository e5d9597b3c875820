"""Quota: rate limits and budgets enforced from leases (protocol: briefs/protocol.md)."""
