"""Delphi consensus platform: anonymous multi-round rating, consensus and graded recommendations."""
