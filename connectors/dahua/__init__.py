"""Dahua event-manager lines → perimeter_alarm records (pure mapping; see README.md)."""
