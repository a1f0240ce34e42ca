# Tern: the two commands a newcomer needs (README.md).
#   make run    install dependencies, build (Release, Ninja), run ternd on etc/dev.toml
#   make test   install dependencies, build, run unit, integration and fuzz smoke tests
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

.PHONY: all deps build run test unit integration fuzz clean

all: build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

run: build
	mkdir -p var/spool var/mail
	scripts/dev-tls var
	$(BUILD)/ternd --config etc/dev.toml

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 120

integration: build
	TERN_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/integration

fuzz: deps
	scripts/fuzz-smoke $(FUZZ_BUILD)

test: build
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) fuzz

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
