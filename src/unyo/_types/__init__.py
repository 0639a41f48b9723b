"""The lowest layer: value types every other layer uses. Call records and usage, the error
hierarchy, money values (prices), secret redaction. Imports nothing of unyo."""
