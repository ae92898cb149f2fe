# Quick start: `make demo`, `make test`. Both create .venv in the repository
# root on first use and install everything into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench screenshots clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/wdualmine demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/wdualmine bench

# The README's pictures: Slicer slice views rendered headless, and the demo montage.
screenshots: $(STAMP)
	$(BIN)/python Testing/WDualMineFusion/render_screenshots.py Resources/Screenshots
	$(BIN)/wdualmine demo -o demo-output
	cp demo-output/montage.png Resources/Screenshots/demo-montage.png

clean:
	rm -rf $(VENV) demo-output .pytest_cache
