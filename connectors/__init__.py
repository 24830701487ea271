"""One adapter per provider: verify and parse its webhooks, call its API."""
