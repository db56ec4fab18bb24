"""Standby rescue crews: teams, headcount, where stationed, status, tasks, live totals."""
