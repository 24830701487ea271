"""The workflow pack: Ringback's domain logic, pure.

No Flask, no SQL, no HTTP and no clock: every function that depends on time takes ``now``.
The host (``integration/``) loads state, calls these functions, and carries out what they
return through the connectors.
"""
