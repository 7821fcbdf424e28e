# Which torch build `make setup` installs: one version for every machine (its line in constraints.txt),
# the build chosen here. evalpin's Makefile and a project's (Makefile.tmpl) both include it.
# Linux: the CPU build from PyTorch's own wheel index (PyPI's Linux torch is a multi-GB CUDA build);
#   a mirror: TORCH_INDEX=https://mirror.example/whl/cpu; a GPU box: TORCH_VARIANT=cu128 (index and label follow).
# macOS: PyPI's torch, which has no variant label. The machine's own pip configuration (find-links, a
# corporate index) stays in effect: the index is added to it, never substituted.
TORCH_VERSION := $(shell sed -n 's/^torch==\([0-9.]*\).*/\1/p' constraints.txt)
UNAME_S ?= $(shell uname -s)
ifeq ($(UNAME_S),Darwin)
TORCH_INDEX ?=
TORCH_SPEC ?= torch==$(TORCH_VERSION)
else
TORCH_VARIANT ?= cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/$(TORCH_VARIANT)
TORCH_SPEC ?= torch==$(TORCH_VERSION)+$(TORCH_VARIANT)
endif
