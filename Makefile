# Latchkey developer tasks. Run from the repository root; go.work ties the modules together.
#
#   make build   build the four services and the local stack runner into bin/
#   make run     build, then run the whole stack locally (gateway on $(ADDR), data in $(DATA));
#                make run REPLICAS=2 runs two processes of every service behind the gateway (round-robin)
#   make test    run every test of every module in go.work, with the race detector (builds the
#                pinned tilt and helm first: the deploy tests evaluate the Tiltfile with them)
#   make tools   build the pinned tilt (tools/tilt, outside go.work) and helm (deploy) into bin/
#   make k8s     regenerate the kustomize base (k8s/base/latchkey.yaml) from the Helm chart
#   make vet     go vet every module
#   make fmt     gofmt every module; make fmt-check fails instead when a file is not formatted
#   make tidy    go mod tidy in every module
#   make bench   load-test the local stack and write docs/benchmarks.md (not part of make test)
#   make fuzz    run every fuzz target for $(FUZZTIME) each (make test ends with a $(TEST_FUZZTIME) pass)
#   make clean   remove bin/ (make clean-data removes the local stack's data in $(DATA))

GO       ?= go
BIN      ?= bin
DATA     ?= .data
ADDR     ?= 127.0.0.1:8080
SERVICES := identity session profile notification
# Extra flags for `make test`, e.g. make test TESTFLAGS='-run TestJourney -v'.
TESTFLAGS ?=
# Per test binary: the journey tests start many local stacks and take 6–11 minutes on a busy
# 2-core machine, past go test's default of 10.
TEST_TIMEOUT ?= 25m
# Processes of every service `make run` starts; the gateway balances over them round-robin.
REPLICAS ?= 1
# Extra flags for the stack runner, e.g. make run RUNFLAGS=-oidc (a local OIDC issuer for Google/Apple sign-in).
RUNFLAGS ?=
# latchkey_build_info's version and revision (libs/platform/telemetry), from git when there is a checkout.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/latchkey/latchkey/libs/platform/telemetry.version=$(VERSION) -X github.com/latchkey/latchkey/libs/platform/telemetry.revision=$(REVISION)
# The modules of go.work (in workspace mode `go list -m` lists exactly those).
MODULES   = $(shell $(GO) list -m -f '{{.Dir}}')

# Pinned deployment tools: tilt from tools/tilt (its own module, outside go.work), helm from the deploy
# module (the same helm SDK version the chart tests use).
TILT := $(BIN)/tilt
HELM := $(BIN)/helm

.PHONY: all build run test vet fmt fmt-check tidy clean clean-data check help tools k8s

all: build

help:
	@sed -n 's/^#   //p' Makefile

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(foreach s,$(SERVICES),./services/$(s)/cmd/$(s)) ./devstack/cmd/devstack

run: build
	exec $(BIN)/devstack -bin $(BIN) -data $(DATA) -addr $(ADDR) -replicas $(REPLICAS) $(RUNFLAGS)

test: tools
	LATCHKEY_TILT=$(abspath $(TILT)) LATCHKEY_HELM=$(abspath $(HELM)) $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) work
	@if [ -n "$(TEST_FUZZTIME)" ]; then $(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME); fi

tools: $(TILT) $(HELM)

$(TILT): tools/tilt/go.mod tools/tilt/go.sum
	cd tools/tilt && GOWORK=off $(GO) build -o $(abspath $(TILT)) github.com/tilt-dev/tilt/cmd/tilt

$(HELM): deploy/go.mod deploy/go.sum
	cd deploy && $(GO) build -o $(abspath $(HELM)) helm.sh/helm/v3/cmd/helm

k8s:
	cd deploy && $(GO) run ./cmd/k8sbase -chart ../charts/latchkey -values ../k8s/base/chart-values.yaml -out ../k8s/base/latchkey.yaml

vet:
	$(GO) vet work

fmt:
	gofmt -w $(MODULES)

fmt-check:
	@out="$$(gofmt -l $(MODULES))"; if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi

tidy:
	@set -e; for dir in $(MODULES); do echo "go mod tidy in $$dir"; (cd "$$dir" && $(GO) mod tidy); done

check: fmt-check vet test

clean:
	rm -rf $(BIN) coverage*

clean-data:
	rm -rf $(DATA)

# Extra flags for the benchmark, e.g. make bench BENCHFLAGS='-duration 10s -c 8'.
BENCHFLAGS ?=
# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 10s
# make test ends with a short run of every fuzz target, a fixed number of inputs each so that a slow
# machine only makes it slower (TEST_FUZZTIME= skips it).
TEST_FUZZTIME ?= 1000x

.PHONY: bench fuzz

bench:
	$(GO) run ./devstack/cmd/bench $(BENCHFLAGS)

# Every fuzz target (func FuzzX in a _test.go file) in turn, FUZZTIME each (a duration, or a count
# of inputs such as 500x); a failure stops the run and leaves the failing input under the package's
# testdata/fuzz/ to check in as a regression seed. Go 1.26's fuzzer can end a duration-bound run with
# a bare "context deadline exceeded" when the time is up mid-input (golang/go#75804): a run that
# fails that way without writing a failing input is reported and not counted as a failure.
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' libs services devstack | sort); do \
		dir=$$(dirname $$file); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz $$dir $$target ($(FUZZTIME))"; \
			out=$$(cd $$dir && $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) . 2>&1) && status=0 || status=$$?; \
			echo "$$out"; \
			if [ $$status -ne 0 ]; then \
				if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
					echo "fuzz $$target: stopped by the fuzzer's own deadline race (golang/go#75804), no failing input"; \
				else \
					exit $$status; \
				fi; \
			fi; \
		done; \
	done
