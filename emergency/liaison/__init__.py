"""Hengqin-Macau liaison: contacts on the Macau side, the 24-hour hotline log, a notice to
every contact on each shared-signal change, acknowledgements and their escalation."""
