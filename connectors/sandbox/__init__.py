"""The sandbox: the no-credentials stand-in for a real SMS provider. Nothing leaves the machine."""
