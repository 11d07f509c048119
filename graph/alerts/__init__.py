"""Alerts: the engine that turns fact changes into alerts and their delivery (alerts topic, webhook)."""
