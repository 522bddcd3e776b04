"""A user model without ``username`` (its USERNAME_FIELD is ``email``), for tests/db/test_custom_user.py only:
it is installed by tests/settings_emailuser.py, never by tests/settings.py."""
