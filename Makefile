# A thin front over CMake. `make run` and `make test` are the two commands
# README.md promises; both install missing Debian packages first.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PORT ?= 7000
FUZZ_TIME ?= 60
PREFIX ?= /usr/local

.PHONY: all deps build run test sanitize valgrind fuzz bench install deb clean

all: build

deps:
	@scripts/deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@echo "xcshost: running examples/echo.lua; try it with:  nc 127.0.0.1 $(PORT)   (Ctrl-C stops)"
	$(BUILD)/xcshost examples/echo.lua port=$(PORT)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DXCS_SANITIZE=ON
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS)

# The same suite under valgrind memcheck, on a RelWithDebInfo build of its
# own: the in-process host and every xcshost a spec starts (scripts/valgrind).
valgrind:
	@scripts/deps valgrind
	scripts/valgrind -b $(BUILD)-valgrind -j $(JOBS)

# The libFuzzer harnesses in fuzz/ (clang): replays fuzz/corpus/, then fuzzes
# each harness for FUZZ_TIME seconds (see fuzz/README.md).
fuzz:
	@scripts/deps fuzz
	scripts/fuzz -b $(BUILD)-fuzz -j $(JOBS) -t $(FUZZ_TIME)

# Installs under PREFIX (DESTDIR is honoured, for staging).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package, build/xcshost_VERSION_ARCH.deb (CPack), then checks it:
# its files, its dependencies, and an install into a scratch root.
deb: build
	cd $(BUILD) && cpack -G DEB
	scripts/check-deb $(BUILD)/xcshost_*.deb

bench: build
	bench/run $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-valgrind $(BUILD)-fuzz
