"""Drills: who acts in one (drill users) and which records are exercise records."""
