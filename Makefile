# The single entry point. The README's two commands are `make demo` and
# `make test`; both install what they need first (scripts/bootstrap).
#
#   make          configure (release preset) and build into build/
#   make test     bootstrap, build, run every ctest label (unit, bpf, e2e,
#                 fuzz), then unit + fuzz-corpus tests again under ASan/UBSan,
#                 then the threaded request-path tests under ThreadSanitizer
#   make demo     bootstrap, build, run the lab demo (scripts/demo)
#   make bench    bootstrap, build, run the benchmarks (bench/run)
#   make clean    remove the build trees

JOBS ?= $(shell nproc)

.PHONY: all build bootstrap test test-release test-asan test-tsan demo bench clean

all: build

bootstrap:
	scripts/bootstrap

build:
	@test -f build/build.ninja || cmake --preset release
	cmake --build --preset release -j $(JOBS)

test: bootstrap
	$(MAKE) build
	$(MAKE) test-release
	$(MAKE) test-asan
	$(MAKE) test-tsan

test-release:
	ctest --preset release -j $(JOBS) --schedule-random

test-asan:
	@test -f build-asan/build.ninja || cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -L 'unit|fuzz'

# The request path is lock-free (issue #8): the suites of the guard's
# tables, the daemon's protections and snapshots, and the log rings run
# under TSan, whose reports fail the run.
TSAN_TESTS = guard_test daemon_test logs_test
test-tsan:
	@test -f build-tsan/build.ninja || cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS) --target $(TSAN_TESTS)
	set -e; for t in $(TSAN_TESTS); do \
	  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/$$t --gtest_brief=1; done

demo: bootstrap
	$(MAKE) build
	scripts/demo

bench: bootstrap
	$(MAKE) build
	bench/run

clean:
	rm -rf build build-debug build-asan build-tsan
