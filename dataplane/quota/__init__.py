"""Quota: rate limits and budgets enforced from leases (proto/oggy/v1/quota_protocol.md)."""
