"""Residents' personal data: retention, forgetting a person, exporting what we hold."""
