"""Users holding given permissions, for the permission tests of every adapter."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType


def member(name: str, *perms: str, staff: bool = False) -> User:
    """A user with these permissions ("weft.cancel_job", "testapp.run_restricted"...), fetched again so
    that Django's per-instance permission cache is empty."""
    u = User.objects.create_user(name, password="pw", is_staff=staff)
    for perm in perms:
        app_label, codename = perm.split(".")
        found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if found is None:  # a skill's own permission ("testapp.run_restricted") belongs to no model here
            ct, _ = ContentType.objects.get_or_create(app_label=app_label, model="restricted")
            found = Permission.objects.create(content_type=ct, codename=codename, name=codename)
        u.user_permissions.add(found)
    return User.objects.get(pk=u.pk)
