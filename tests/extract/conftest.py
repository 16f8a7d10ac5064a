"""The extraction wing's tests run with the ssl class registered (`import radiomics_ssl` is a no-op
when an earlier test module imported the package as the parent of a wing; test_opt_in.py checks the
import semantics in fresh interpreters)."""
import radiomics_ssl

radiomics_ssl.register()
