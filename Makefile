# Thin wrapper over CMake for the README's two commands.
#   make run   — install packages, build, start colonyd on 127.0.0.1:8080 with ./colony.db
#   make test  — install packages, build with gcc and run every test, then again with
#                clang under ASan+UBSan (leaks fail the run)
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all build run test test-fast bench clean

all: build

build:
	@bash scripts/setup.sh
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	./build/colonyd $(ARGS)

test:
	@bash scripts/setup.sh
	@bash scripts/test.sh

# One build (gcc, no sanitizers) and its tests: the quick loop while developing.
test-fast: build
	@cd build && ctest --output-on-failure -j $(JOBS)

bench: build
	./build/bench_memory $(ARGS)

clean:
	rm -rf build build-asan
