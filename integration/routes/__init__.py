"""HTTP routes, one module per surface."""
from flask import current_app


def rt():
    """The Runtime of the app handling this request."""
    return current_app.extensions["ringback"]
