# The two commands of the README: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: install demo test

# torch first (a CPU wheel; a bare `torch` requirement would pull a multi-GB CUDA build);
# pyradiomics 3.0.1 needs numpy present and --no-build-isolation (the 3.1.0 sdist is broken), and
# --no-cache-dir: pip would otherwise reuse a wheel it built earlier against another numpy (a 1.x
# build fails to import under numpy 2: "numpy.core.multiarray failed to import").
install:
	$(PIP) install torch==2.13.0
	$(PIP) install "numpy>=1.22" "setuptools>=64" wheel
	$(PIP) install --no-cache-dir --no-build-isolation pyradiomics==3.0.1
	$(PIP) install ".[test,dicom]"
	# pyradiomics' own feature tests and baselines, from its source distribution (not copied into this repository)
	$(PIP) download --no-deps --no-binary :all: --no-build-isolation pyradiomics==3.0.1 -d build
	tar -xzf build/pyradiomics-3.0.1.tar.gz -C build pyradiomics-3.0.1/tests pyradiomics-3.0.1/data

demo: install
	$(PYTHON) examples/make_sample.py sample
	pyradiomicsssl sample/image.nii.gz sample/mask.nii.gz --param params/ssl_ct.yaml --format csv > sample/features.csv
	$(PYTHON) examples/show_features.py sample/features.csv

# PYTHONSAFEPATH: the tests import the installed package, not the source tree in the working directory
test: install
	PYTHONSAFEPATH=1 $(PYTHON) -m pytest
