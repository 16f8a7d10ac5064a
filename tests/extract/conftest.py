"""The extraction wing's tests run with the ssl class registered (test_opt_in.py checks the opt-in
itself in fresh interpreters)."""
import radiomics_ssl

radiomics_ssl.register()
