"""STUB -- owned by the testing-backend helper. See CONTRIBUTING.md."""
