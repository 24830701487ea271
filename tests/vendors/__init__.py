"""How each vendor's requests reach Ringback in the tests, one module per vendor: its fixtures'
ids, signing as the vendor signs, posting to its route, and the missed call most tests start
from. The fixture-expectation rule they share is tests/webhooks.py."""
