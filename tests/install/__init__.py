"""The README install in a fresh virtualenv, as a new user does it (see test_install.py)."""
