"""Dispatch: the outbox queue, the workers that send, the rate ceiling, retries and progress."""
