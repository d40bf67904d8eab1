"""Reference drivers of the wire protocol (docs/PROTOCOL.md) for Python engines."""
