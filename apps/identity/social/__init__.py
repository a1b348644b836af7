"""django-allauth's part of social sign-in: its app config, its middleware on browser paths, and the adapter
that hands every completed exchange to Atrium (docs/adr/0014-social-sign-in-with-allauth.md)."""
