"""Outbound delivery: replies leave through the outbox, one row per part, paced and retried."""
