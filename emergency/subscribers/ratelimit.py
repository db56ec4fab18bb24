"""The per-client rate limit of the push subscriptions: emergency.ratelimit's, shared with the
field endpoints and the webhooks."""

from emergency.ratelimit import RateLimiter

__all__ = ["RateLimiter"]
