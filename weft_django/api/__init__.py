"""The HTTP API (Django REST framework): weft_django.api.urls."""
