"""Hikvision ISAPI ``EventNotificationAlert`` → perimeter_alarm / access_swipe (see README.md)."""
