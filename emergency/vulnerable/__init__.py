"""Vulnerable residents followed by social workers, and their check-in state during a storm.
Names and addresses are shown only to the roles that need them (see service.can_see_names)."""
