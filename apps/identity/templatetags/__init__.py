"""Template tags of the identity app (`{% load rbac %}`)."""
