# Build, test and package the proxy. `make help` lists the targets.

CARGO ?= cargo
MUSL := x86_64-unknown-linux-musl
GNU := x86_64-unknown-linux-gnu

.PHONY: help build release static test lint run clean bench bench-smoke vendor-patch live-test

help:
	@echo "make build    debug build"
	@echo "make release  optimised build: target/release/proxy"
	@echo "make static   statically linked x86_64 binary: target/static/proxy"
	@echo "make test     the whole test suite (unit and integration, real npm client included)"
	@echo "make lint     rustfmt and clippy, as CI runs them"
	@echo "make live-test  real apt-get against the public Debian archive through the proxy (needs"
	@echo "              the internet; not part of make test)"
	@echo "make run      build and start the proxy on :8080 with ./cache"
	@echo "make bench    benchmark against nginx and peer proxies on loopback (about 25 minutes;"
	@echo "              installs the peers outside the repo); writes the table into BENCHMARKS.md"
	@echo "make bench-smoke  the same scenarios, tiny and short (under a minute): keeps bench/ working"
	@echo "make vendor-patch  rewrite vendor/tiny_http.patch (vendor/tiny_http against tiny_http 0.12.0)"

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

# mimalloc (the static build's allocator) would back its arenas with transparent huge pages:
# 29 MB idle instead of 9. This turns them off for the proxy's process only.
MUSL_CFLAGS := -DMI_DEFAULT_ALLOW_THP=0

# The musl target gives a fully static binary; its C parts (SQLite) need musl-gcc. Where the
# target or musl-tools cannot be had, fall back to glibc with a static C runtime.
static:
	@mkdir -p target/static
	@if (rustup target list --installed 2>/dev/null | grep -q $(MUSL) || rustup target add $(MUSL)) \
	   && (command -v musl-gcc >/dev/null || (command -v apt-get >/dev/null && \
	       (apt-get install -y musl-tools || (apt-get update && apt-get install -y musl-tools)))); then \
	  echo "building for $(MUSL)"; \
	  CFLAGS_x86_64_unknown_linux_musl="$(MUSL_CFLAGS)" \
	  $(CARGO) build --locked --release --target $(MUSL) && \
	  cp target/$(MUSL)/release/proxy target/static/proxy; \
	else \
	  echo "musl unavailable: building for $(GNU) with crt-static"; \
	  RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --locked --release --target $(GNU) && \
	  cp target/$(GNU)/release/proxy target/static/proxy; \
	fi
	@ls -l target/static/proxy
	@file target/static/proxy 2>/dev/null || true

# A real-client test whose client is missing passes as skipped (tests/it/support.rs, `installed`)
# and adds a line to $(SKIPPED); the list is printed after the run, whatever its result.
SKIPPED := $(CURDIR)/target/skipped-clients.txt

test:
	@mkdir -p target && rm -f $(SKIPPED)
	@PROXY_TEST_SKIPPED_FILE=$(SKIPPED) $(CARGO) test --locked; status=$$?; \
	if [ -s $(SKIPPED) ]; then \
	  echo "Skipped for want of a client (.ci/run installs every one):"; \
	  sort $(SKIPPED) | sed 's/^skipped: /  /'; \
	fi; \
	exit $$status

# tests/live/apt.sh: the one test that reaches the internet (deb.debian.org), run by hand.
live-test:
	tests/live/apt.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

run:
	$(CARGO) run --locked --release

# See bench/run.sh and BENCHMARKS.md. Loopback only; bounded in time; stops what it starts.
bench:
	bench/run.sh

# For CI: proves the benchmark still runs; asserts no performance.
bench-smoke:
	bench/run.sh --smoke

# The diff of our tiny_http copy against the published crate (vendor/README.md).
vendor-patch:
	CARGO=$(CARGO) vendor/make-patch.sh

clean:
	$(CARGO) clean
