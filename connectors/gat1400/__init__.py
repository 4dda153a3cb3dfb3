"""GA/T 1400 face disposition notifications (布控告警) → face_match records (see README.md)."""
