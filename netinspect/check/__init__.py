"""Parity checking: runners, seeded inputs, comparison, first divergence, reports."""
