"""Loopback fakes of the vendors: real HTTP servers that keep state and answer like the vendor."""
