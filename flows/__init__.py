"""Prefect flows: the customer flow, the meter flow and the nightly parent flow."""
