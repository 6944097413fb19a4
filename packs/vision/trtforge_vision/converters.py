"""Converters of this pack (to be split into modules as it grows)."""
ALL: list = []
