"""Organisations, users with roles, sessions, and the public keys parties register."""
