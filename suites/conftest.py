"""The conformance suite runs through the stackcheck pytest plugin (registered via pytest11)."""
