"""Webhooks other systems call: Twilio's delivery receipts and SMS replies."""
