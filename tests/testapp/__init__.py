"""Skills used by the tests."""
