"""Tracker stores configured in endpoints.yml."""
