"""The `ringback` command: one module per group of commands, over the host's service functions.

`main` (base.py) is the click group; importing the modules below registers their commands on it.
"""
from __future__ import annotations

from . import (agency_cmds, event_cmds, number_cmds, operator_cmds, running, subaccount_cmds,  # noqa: F401
               twilio_cmds, workflow_cmds)
from .base import main

__all__ = ["main"]
