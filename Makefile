# Two entry points on a fresh Debian/Ubuntu machine with Python 3.11:
#   make paper   set up, then build results/paper/paper.pdf on the offline default profile
#   make test    set up, then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
TEX_PACKAGES := texlive-latex-base texlive-latex-recommended texlive-latex-extra \
	texlive-fonts-recommended lmodern latexmk poppler-utils

.PHONY: paper ladder test setup tex clean

paper: setup
	$(VENV)/bin/snakemake --cores all

# the scale ladder v3 (config/ladder.yaml): its studies on two axes and the cross-study paper;
# interrupted, it resumes where it stopped
ladder: setup
	$(VENV)/bin/snakemake --cores all --configfile config/ladder.yaml

# two workers (pytest-xdist), a test file each at a time (tests/conftest.py orders them)
test: setup
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# the virtual environment (pip, about 3 min from PyPI) and TeX Live (apt) download side by side
setup:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed tex

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# TeX Live from apt when latexmk or pdftotext is missing (needs root; otherwise says what to run).
tex:
	@if ! command -v latexmk >/dev/null || ! command -v pdftotext >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES); \
		else \
			echo "TeX is missing: sudo apt-get install $(TEX_PACKAGES)"; exit 1; \
		fi; \
	fi

clean:
	rm -rf results resources logs .snakemake
