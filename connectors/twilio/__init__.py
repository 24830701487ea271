"""Twilio: voice and messaging webhooks in, messages out through the official SDK."""
