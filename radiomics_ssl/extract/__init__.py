"""The extraction wing: the only code that registers with pyradiomics or calls into it.

Importing it changes nothing; `radiomics_ssl.register()` is the opt-in (registration.py), and the
console scripts call it in their `main`.
"""
from radiomics_ssl.extract.registration import register

__all__ = ["register"]
