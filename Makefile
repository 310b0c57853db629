# Deep Image Inpainting, Rebuilt -- build, test and explore the book.
#
#   make book    execute every notebook (INPAINT_PROFILE=book unless set) and build _build/html
#   make test    unit tests, notebooks in the smoke profile, a smoke-executed -W build, HTML + browser checks
#   make bench   inpaint latency and training speed of every model on this machine
#   make eval    re-measure what changed and rewrite data/test_results.json (the shipped test-set numbers)
#   make train-gpu  retrain every shipped model on a GPU at the equal budget (resumable)
#   make lab     JupyterLab on the notebooks
#   make demo    the "Try it yourself" app (paint a hole, every model fills it) on localhost, offline
#   make clean   remove _build
#
# Everything runs inside .venv (created with `python3 -m venv` when missing). Always through
# `.venv/bin/python -m ...`, so a moved or rebuilt venv never runs stale entry-point scripts.

SHELL        := /bin/bash
.SHELLFLAGS  := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON3      ?= python3
VENV         := .venv
PY           := $(VENV)/bin/python
STAMP        := $(VENV)/.installed.stamp
# jupyter-book 1.x has no `python -m` entry point: call its CLI function through the venv's python.
JB           := $(PY) -c 'import sys; from jupyter_book.cli.main import main; sys.argv[0] = "jupyter-book"; sys.exit(main())'
CHECK_DIR    := _build/check
CHECK_HTML   := $(CHECK_DIR)/_build/html
BOOK_FLAGS   ?= --all
export PATH  := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Tests never open plot windows. Only for tests: in a Jupyter kernel MPLBACKEND=Agg would replace
# the inline backend and the built book would lose its figures (so `book` and `lab` unset it).
test test-unit test-notebooks test-build test-browser: export MPLBACKEND := Agg

.PHONY: help setup assets book eval test test-unit test-notebooks test-build test-browser lab demo clean bench train-gpu
# The test stages must run one after the other, even under `make -j`.
.NOTPARALLEL:

help:
	@echo "make book   build the book (executes the notebooks; INPAINT_PROFILE=book by default)"
	@echo "make test   unit tests + notebooks (smoke profile) + smoke-executed -W build + HTML and browser checks"
	@echo "make eval   rewrite data/test_results.json (every model on the test set + the book build)"
	@echo "make bench  inpaint latency and training steps/s of every model (nothing else running)"
	@echo "make train-gpu  retrain every shipped model on CUDA at the equal budget (1 PFLOP each)"
	@echo "make lab    JupyterLab on notebooks/"
	@echo "make demo   the Try-it-yourself app on http://127.0.0.1:$(DEMO_PORT)/ (Voila, offline)"
	@echo "make clean  remove _build/"

# ------------------------------------------------------------------ environment

$(PY):
	$(PYTHON3) -m venv $(VENV)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --no-deps -e .
	touch $@

setup: $(STAMP)

# MathJax, RequireJS and the ipywidgets html-manager, from npm into book/_offline (skips when present).
assets:
	scripts/fetch_web_assets.sh

# ------------------------------------------------------------------ the book

# Notebooks run through jupyter-cache (_config.yml: execute_notebooks: cache): a rebuild reruns only
# the notebooks whose code changed, and scripts/book_inputs.py empties the cache first when the
# library, data, checkpoints, requirements or profile changed, so then every notebook runs again.
# scripts/prefill_book_cache.py executes the uncached notebooks BOOK_JOBS at a time (default 2)
# into that cache first; BOOK_JOBS=1 leaves them to Jupyter Book, one by one.
JCACHE := _build/.jupyter_cache
book: setup assets
	unset MPLBACKEND
	export INPAINT_PROFILE="$${INPAINT_PROFILE:-book}"
	echo "== building the book, executing notebooks with INPAINT_PROFILE=$$INPAINT_PROFILE"
	start=$$(date +%s)
	$(PY) scripts/book_inputs.py --cache $(JCACHE)
	$(PY) scripts/prefill_book_cache.py --cache $(JCACHE) --jobs "$${BOOK_JOBS:-2}"
	$(JB) build . $(BOOK_FLAGS)
	echo "== book built in $$(( $$(date +%s) - start )) s; open:"
	echo "$(CURDIR)/_build/html/index.html"

# The test-set numbers of the shipped checkpoints ship in data/test_results.json, so a first
# `make book` reads them instead of measuring (inpaintlib/evaluation/result_store.py). After a
# checkpoint or the code behind a number changed, `make eval` re-measures what no longer matches
# (every registered method on the whole test set, then a book build) and rewrites the file with
# exactly the numbers used; tests/test_shipped_results.py fails until it has been run.
RECORD_DIR := _build/results-record
eval: setup assets
	rm -rf $(RECORD_DIR)
	export INPAINT_RECORD_RESULTS="$(CURDIR)/$(RECORD_DIR)"
	$(PY) -m inpaintlib measure-registered
	rm -rf $(JCACHE)  # every notebook must run, to record what it reads
	$(MAKE) --no-print-directory book
	$(PY) -m inpaintlib collect-results $(RECORD_DIR)

# ------------------------------------------------------------------ tests

# `make test` runs three stages in order and stops at the first failure; each stage is also a
# target of its own (e.g. `make test-browser` after `make test-build`). The notebooks are executed
# once, by the strict check build; test-browser then checks every executed cell (as nbval did) and
# the pages. `make test-notebooks` (nbval) stays for working on one notebook.
# pytest exit status 5 means "no tests collected": not a failure here.
test: setup assets
	start=$$(date +%s)
	$(MAKE) --no-print-directory test-unit test-build test-browser
	mkdir -p _build
	echo "$$(( $$(date +%s) - start ))" > _build/make-test-seconds
	echo "== make test passed in $$(( $$(date +%s) - start )) s"

test-unit: setup
	echo "== (a) unit tests"
	$(PY) -m pytest tests --ignore=tests/test_book_browser.py --ignore=tests/test_book_html.py \
		--ignore=tests/test_demo_browser.py --ignore=tests/test_executed_notebooks.py || [ $$? -eq 5 ]

test-notebooks: setup
	echo "== every notebook under nbval, INPAINT_PROFILE=smoke (not part of make test: test-build executes them)"
	INPAINT_PROFILE=smoke $(PY) -m pytest --nbval-lax --nbval-current-env notebooks || [ $$? -eq 5 ]

# The book built as a reader gets it, every notebook executed (smoke profile, so it is quick):
# Sphinx/MyST warnings (broken toc entry, unknown cross-reference, citation or glue key) fail the
# build, and test-browser then checks the pages with their outputs (tables, figures, glued values).
test-build: setup assets
	echo "== (b) book build, every notebook executed once with INPAINT_PROFILE=smoke, -W --keep-going"
	rm -rf $(CHECK_DIR)
	$(PY) scripts/book_config.py --execute force --out $(CHECK_DIR)/_config.yml
	unset MPLBACKEND  # the kernels must keep the inline backend, or the pages lose their figures
	INPAINT_PROFILE=smoke $(JB) build . --config $(CHECK_DIR)/_config.yml \
		--path-output $(CHECK_DIR) --all -W --keep-going

test-browser: setup
	echo "== (c) every executed notebook cell, HTML and headless browser checks of $(CHECK_HTML), the demo app"
	BOOK_HTML_DIR="$(CURDIR)/$(CHECK_HTML)" BOOK_EXECUTED_DIR="$(CURDIR)/$(CHECK_DIR)/_build/jupyter_execute" \
		$(PY) -m pytest -rs tests/test_executed_notebooks.py tests/test_book_html.py tests/test_book_browser.py \
		tests/test_demo_browser.py || [ $$? -eq 5 ]

# ------------------------------------------------------------------ speed and GPU training

bench: setup
	$(PY) scripts/bench.py

# On a GPU machine with no package registry, run the command directly with the machine's python
# (torch, numpy, OpenCV, scikit-image, h5py are enough): python -m inpaintlib train-all ...
# Every shipped model and ablation at the equal budget (1 PFLOP, the CPU's step plan), then the
# GPU budget (16 PFLOP) for the models in GPU_BUDGET. Resumable: run it again after a cut command.
# GPU_NAMES limits it to some models; to finish a partly retrained set, list here the ones whose
# shipped checkpoint is not yet at the budget and pass them (the checkpoints need not travel):
#   make train-gpu GPU_NAMES="$$(.venv/bin/python -m inpaintlib train-all --pending --list)"
# GPU_PENDING=1 skips the models whose shipped checkpoint is already at the equal budget (then
# only the GPU_BUDGET runs train, when every model is). GPU_SHIP_TO: where the float16 checkpoints
# go instead of data/checkpoints (a folder that comes back from a rented machine). PYTHON: the
# machine's python where there is no .venv.
GPU_STOP_AFTER ?=
GPU_BUDGET ?=
GPU_NAMES ?=
GPU_PENDING ?=
GPU_SHIP_TO ?=
train-gpu:
	$${PYTHON:-$(PY)} -m inpaintlib train-all --device cuda $(GPU_NAMES) $(if $(GPU_PENDING),--pending,) \
		$(if $(GPU_SHIP_TO),--ship-to $(GPU_SHIP_TO),) \
		$(if $(GPU_STOP_AFTER),--stop-after $(GPU_STOP_AFTER),) $(if $(GPU_BUDGET),--gpu-budget $(GPU_BUDGET),)

# ------------------------------------------------------------------ interactive

# Containers (the usual way to rent a GPU) run as root, which Jupyter refuses without --allow-root.
# On a remote machine: LAB_IP=0.0.0.0 make lab, then open the printed URL (it carries the token).
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
AS_ROOT  := $(if $(filter 0,$(shell id -u)),--allow-root,)
LOCAL    = $(filter 127.0.0.1 localhost,$(1))
lab: setup
	unset MPLBACKEND
	$(if $(AS_ROOT),echo "== running as root (as in a container): passing --allow-root to Jupyter",)
	$(if $(call LOCAL,$(LAB_IP)),,echo "== serving on $(LAB_IP): open the URL with its token printed below")
	$(PY) -m jupyterlab notebooks/ --ip=$(LAB_IP) --port=$(LAB_PORT) --ServerApp.port_retries=0 \
		$(AS_ROOT) $(if $(call LOCAL,$(LAB_IP)),,--no-browser)

# The "Try it yourself" notebook served as a web app by Voila, without its code, offline: the
# template in scripts/voila/templates/offline is Voila's lab template minus its CDN stylesheets.
# On a remote machine: DEMO_IP=0.0.0.0 make demo, then open http://<the machine's address>:8866/.
DEMO_PORT ?= 8866
DEMO_IP   ?= 127.0.0.1
demo: setup
	unset MPLBACKEND
	echo "== the demo app: open http://$(if $(call LOCAL,$(DEMO_IP)),127.0.0.1,<this machine's address>):$(DEMO_PORT)/ once the models are loaded (Ctrl-C stops it)"
	JUPYTER_PATH="$(CURDIR)/scripts" INPAINT_PROFILE="$${INPAINT_PROFILE:-smoke}" $(PY) -m voila \
		notebooks/12_try_it_yourself.ipynb --port=$(DEMO_PORT) --no-browser --Voila.ip=$(DEMO_IP) \
		--template=offline --show_tracebacks=False

clean:
	rm -rf _build
