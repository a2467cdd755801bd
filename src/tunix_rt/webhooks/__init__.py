"""Webhooks: HMAC-signed notifications when runs, evaluations and tuning jobs end."""
