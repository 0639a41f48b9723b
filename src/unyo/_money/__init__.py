"""Budgets as pipeline steps (reserve before sending, settle after), and usage reports."""
