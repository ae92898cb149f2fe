# Quick start: `make demo`, `make test`. Both create .venv in the repository
# root on first use and install everything into it.
#
# Which PyTorch build: TORCH=default (the default) installs torch from the package index as pip is
# configured; on an ordinary Linux x86-64 machine that is the CUDA build, with several GB of CUDA
# libraries. TORCH=cpu installs the CPU-only wheel from PyTorch's own CPU index (about 200 MB),
# e.g. `make demo TORCH=cpu`. To switch an existing .venv, `make clean` first.
PYTHON ?= python3
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_INDEX_default :=
TORCH_INDEX_cpu := --index-url $(TORCH_CPU_INDEX)
ifeq ($(filter default cpu,$(TORCH)),)
$(error TORCH must be default or cpu, not '$(TORCH)')
endif

.PHONY: demo test bench gpu-check screenshots clean web web-deps

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt $(TORCH_INDEX_$(TORCH)) "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $(STAMP)

# The browser app (trame-slicer, optional extra `web`) on the bundled sample, on 127.0.0.1:8080 only;
# WEB_ARGS="--port 9000 --data-folder /data" to change (see `wdualmine-web --help`).
WEB_STAMP := $(VENV)/.installed-web
WEB_ARGS ?=
$(WEB_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,web]"
	touch $(WEB_STAMP)

web-deps: $(WEB_STAMP)

web: $(WEB_STAMP)
	$(BIN)/wdualmine-web $(WEB_ARGS)

demo: $(STAMP)
	$(BIN)/wdualmine demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/wdualmine bench

# Fuses the sample and a 256x256x200 volume on CUDA and on the CPU, compares them, prints one JSON
# line; says so and succeeds when there is no GPU. Needs a CUDA build of torch (TORCH=default).
gpu-check: $(STAMP)
	$(BIN)/wdualmine gpu-check

# The README's pictures: Slicer slice views rendered headless, and the demo montage.
screenshots: $(STAMP)
	$(BIN)/python Testing/WDualMineFusion/render_screenshots.py Resources/Screenshots
	$(BIN)/wdualmine demo -o demo-output
	cp demo-output/montage.png Resources/Screenshots/demo-montage.png

clean:
	rm -rf $(VENV) demo-output .pytest_cache

# Runs the module inside a real 3D Slicer (drives the panel, times Apply and the preview, saves screenshots):
#   make slicer-smoke SLICER=/path/to/Slicer
.PHONY: slicer-smoke
slicer-smoke:
	@test -n "$(SLICER)" || { echo "usage: make slicer-smoke SLICER=/path/to/Slicer (the Slicer executable, 5.10 or later)"; exit 2; }
	WDUALMINE_SMOKE_OUTPUT="$(CURDIR)/slicer-smoke-output" "$(SLICER)" --no-splash \
		--additional-module-paths "$(CURDIR)/WDualMineFusion" --python-script "$(CURDIR)/Testing/WDualMineFusion/slicer_smoke.py"
