"""The extraction wing: the only code that registers with or patches pyradiomics.

Importing it (which `import radiomics_ssl` does) is the opt-in: see registration.py.
"""
from radiomics_ssl.extract.registration import register

register()
