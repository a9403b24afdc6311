"""Outputs: maps, packs and exports built from model results."""
