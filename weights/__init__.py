"""Shipped weights, installed as the package `radiomics_ssl.shipped_weights` (see setup.cfg)."""
