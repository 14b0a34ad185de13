"""NYC 311 collector tests."""
