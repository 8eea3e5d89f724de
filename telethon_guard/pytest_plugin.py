"""STUB -- owned by the guard helper. The opt-in pytest plugin (entry point pytest11)."""
