# Berth: `make run` installs what is missing, builds and starts berthd with a demo account;
# `make test` installs what is missing and runs every check and test. Debian 12, as root.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(CURDIR)/.cache/bin:$(PATH)
export GOFLAGS := -buildvcs=false
BERTH_CACHE ?= $(CURDIR)/.cache/images
DATA ?= $(CURDIR)/.data
LISTEN ?= 127.0.0.1:8080
STATICCHECK_VERSION := v0.8.2
# Fuzzing budgets are counts of executions, not durations: a duration's deadline races Go's
# fuzzing coordinator, which then fails a target that found nothing ("context deadline
# exceeded", golang/go#75804; seen in make test on FuzzNext). About 20 s each here.
FUZZ_XMLRPC ?= 300000x
FUZZ_IPAM ?= 20000x
# Debian packages the product and its tests use (images.mk adds the image builders').
APT := qemu-system-x86 qemu-utils genisoimage python3 python3-libcloud python3-yaml iputils-ping postgresql procps \
	iproute2 openssh-client ca-certificates
# Only `make test` needs a browser (the web console's chromedp tests).
APT_TEST := chromium

include images/images.mk

.PHONY: all deps apt apt-test tools build run cluster cluster-down test lint test-go fuzz bench clean web-vendor

all: build

apt:
	@missing=""; for p in $(APT); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

apt-test:
	@$(MAKE) --no-print-directory apt APT="$(APT_TEST)"

tools: .cache/bin/staticcheck

.cache/bin/staticcheck:
	GOBIN=$(CURDIR)/.cache/bin go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

deps: apt images-deps tools

build:
	go build -o bin/berthd ./cmd/berthd
	go build -o bin/berth ./cmd/berth

run: deps images build
	bin/berthd serve --data $(DATA) --images $(BERTH_CACHE) --listen $(LISTEN) --api-access all --demo

# A local multi-host cluster: PostgreSQL, an API server and agents h1-h3 on a simulated
# rack (internal/cluster); cluster-down removes every process, namespace, link and file.
CLUSTER_DIR ?= $(CURDIR)/.cluster
CLUSTER_LISTEN ?= 127.0.0.1:8090

cluster: deps images build
	bin/berthd admin cluster up --dir $(CLUSTER_DIR) --images $(BERTH_CACHE) --listen $(CLUSTER_LISTEN) --scripts $(CURDIR)/scripts

cluster-down: build
	bin/berthd admin cluster down --dir $(CLUSTER_DIR) --scripts $(CURDIR)/scripts

# The Debian 12 image (debootstrap: downloads, 2-3 min) builds while lint runs.
test: deps apt-test images
	@mkdir -p $(BERTH_CACHE); $(MAKE) --no-print-directory debian12 > $(BERTH_CACHE)/debian12-build.log 2>&1 & deb=$$!; \
	  $(MAKE) --no-print-directory lint; lint=$$?; \
	  wait $$deb; deb=$$?; cat $(BERTH_CACHE)/debian12-build.log; \
	  [ $$deb = 0 ] && [ $$lint = 0 ]
	@$(MAKE) --no-print-directory test-go fuzz

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	staticcheck ./...
	go mod tidy -diff

# The tests get a throwaway PostgreSQL (DATABASE_URL) for the store and River suites.
test-go:
	@set -e; eval "$$(PGPORT=$$((40000 + RANDOM % 20000)) scripts/start-pg.sh)"; trap scripts/stop-pg.sh EXIT; \
	go test -race -parallel 3 -timeout 45m ./...

fuzz:
	go test -run '^$$' -fuzz FuzzDecodeCall -fuzztime $(FUZZ_XMLRPC) -fuzzminimizetime 5s ./internal/xmlrpc/
	go test -run '^$$' -fuzz FuzzNext -fuzztime $(FUZZ_IPAM) -fuzzminimizetime 5s ./internal/ipam/

# The benchmarks print ratios against baselines run beside them (bench/README.md).
BENCH_APT := iperf3

bench: deps images
	@$(MAKE) --no-print-directory apt APT="$(BENCH_APT)"
	go run ./bench/api
	go run ./bench/boot
	go run ./bench/scale
	go run ./bench/overlay
	go run ./bench/migrate

# Dev only: refresh the web console's vendored assets from the npm versions pinned in
# internal/web/npm/package-lock.json, and their vendor.sum (make run needs no npm).
WEBV := internal/web/npm
web-vendor:
	cd $(WEBV) && npm ci --no-audit --no-fund
	cp $(WEBV)/node_modules/htmx.org/dist/htmx.min.js $(WEBV)/node_modules/htmx-ext-sse/dist/sse.min.js \
	  $(WEBV)/node_modules/@xterm/xterm/lib/xterm.js $(WEBV)/node_modules/@xterm/xterm/css/xterm.css \
	  $(WEBV)/node_modules/@xterm/addon-fit/lib/addon-fit.js internal/web/static/vendor/
	cd internal/web/static/vendor && sha256sum *.js *.css > ../vendor.sum
	rm -rf $(WEBV)/node_modules

clean:
	rm -rf bin
