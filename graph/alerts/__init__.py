"""Alerts: the engine that applies the alert rules (``analysis/alerts.py``) to the consumer's fact
changes through the store protocol, and their delivery (alerts topic, webhook)."""
