"""Backline."""
