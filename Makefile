# Build, test and package the proxy. `make help` lists the targets.

CARGO ?= cargo
MUSL := x86_64-unknown-linux-musl
GNU := x86_64-unknown-linux-gnu

.PHONY: help build release static image image-archive image-test test lint fuzz run clean bench bench-smoke bench-gzip bench-apt bench-airgap vendor-patch live-test

help:
	@echo "make build    debug build"
	@echo "make release  optimised build: target/release/proxy"
	@echo "make static   statically linked x86_64 binary: target/static/proxy"
	@echo "make image    container image localhost/proxy FROM scratch (buildah, podman or docker)"
	@echo "make image-archive  the image as target/proxy-image.oci.tar and .docker.tar (air gap)"
	@echo "make image-test     builds the static binary, then tests the image (CI runs it)"
	@echo "make test     the whole test suite (unit and integration, real npm client included)"
	@echo "make lint     rustfmt and clippy, as CI runs them"
	@echo "make live-test  real apt-get against the public Debian archive through the proxy (needs"
	@echo "              the internet; not part of make test)"
	@echo "make fuzz     the fuzz-style parser tests, long (PROXY_FUZZ_ITERS inputs per parser, default"
	@echo "              50000, about three minutes; PROXY_FUZZ_SEED, default the time, replays a run)"
	@echo "make run      build and start the proxy on :8080 with ./cache"
	@echo "make bench    benchmark against nginx and peer proxies on loopback (about 25 minutes;"
	@echo "              installs the peers outside the repo); writes the table into BENCHMARKS.md"
	@echo "make bench-smoke  the same scenarios, tiny and short (under a minute): keeps bench/ working"
	@echo "make bench-gzip   decompression throughput of src/gzip.rs on a 50 MB Packages-like file"
	@echo "make bench-apt    apt-get update direct vs through the proxy, on a copy of Debian's index"
	@echo "              (BENCH_APT_DIR, default bench/.apt; BENCH_APT_FETCH=1 fetches it once)"
	@echo "make bench-airgap mirror, export and import of 10,000 small artifacts and 4 GiB (minutes)"
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

# The container image: container/Containerfile, built by container/build.sh from the static
# binary, offline. See docs/container.md.
image: static
	container/build.sh

image-archive: static
	container/build.sh --archive target/proxy-image.oci.tar --docker-archive target/proxy-image.docker.tar

# Not part of `make test`: it needs the static binary, a release build of its own (minutes).
image-test: static
	PROXY_IMAGE_BINARY=$(CURDIR)/target/static/proxy $(CARGO) test --locked --test it image:: -- --nocapture

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
# src/fuzz/: `make test` runs a short loop of each; this a long one, from a new seed each time
# unless PROXY_FUZZ_SEED is given. A failure prints its seed and saves its input.
fuzz:
	PROXY_FUZZ_ITERS=$${PROXY_FUZZ_ITERS:-50000} PROXY_FUZZ_SEED=$${PROXY_FUZZ_SEED:-$$(date +%s)} \
	  $(CARGO) test --locked --lib fuzz:: -- --nocapture

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

run:
	$(CARGO) run --locked --release

# See bench/run.sh and BENCHMARKS.md. Loopback only; bounded in time; stops what it starts.
bench:
	bench/run.sh

# For CI: proves the benchmark scripts still run; asserts no performance.
bench-smoke:
	bench/run.sh --smoke
	bench/airgap.sh --smoke

# The diff of our tiny_http copy against the published crate (vendor/README.md).
vendor-patch:
	CARGO=$(CARGO) vendor/make-patch.sh

# See bench/gzip.sh and BENCHMARKS.md ("gzip"). About a minute; prints a table.
bench-gzip:
	bench/gzip.sh

# BENCHMARKS.md, "Debian's index through the proxy". Loopback only once the copy is there.
bench-apt:
	bench/apt-index.sh $${BENCH_APT_DIR:-bench/.apt}

# See bench/airgap.sh and BENCHMARKS.md ("Air gap"). Needs nginx and about 13 GB of disk (4 GiB
# three times over); writes its table into BENCHMARKS.md.
bench-airgap:
	bench/airgap.sh

clean:
	$(CARGO) clean
