# Tandem build targets. Only Go (1.26) is needed; `make proto` also needs protoc
# (Debian: protobuf-compiler), which `make proto-tools` installs.
GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 10s
CMDS    := gns ismg ismgctl gnsctl smscsim spsim billing tandem-check gns-lincheck

.PHONY: all build test vet fuzz bench lint proto proto-tools promtool chromium demo up down clean docker compose-test

all: build

# The VCS stamp for --version and tandem_build_info, from git when the
# toolchain's own stamping is off (GOFLAGS=-buildvcs=false).
REV     := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
REVTIME := $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -X github.com/tandem-sms/tandem/internal/buildinfo.revision=$(REV) -X github.com/tandem-sms/tandem/internal/buildinfo.commitTime=$(REVTIME)

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

vet:
	$(GO) vet $(PKGS)

test: vet promtool chromium
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# promtool checks and unit-tests deploy/prometheus in the tests (e2e);
# Debian's prometheus package provides it.
promtool:
	command -v promtool >/dev/null || (apt-get update && apt-get install -y --no-install-recommends prometheus)

# The ISMG console's browser test (ismg/console_browser_test.go) drives a
# real headless Chromium; Debian's chromium package provides it.
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

# One short run per fuzz target (go test allows one -fuzz target per run).
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	./scripts/bench.sh

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

proto-tools:
	command -v protoc >/dev/null || (apt-get update && apt-get install -y protobuf-compiler)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1

proto: proto-tools
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative gns/gnspb/gns.proto ismg/adminpb/admin.proto

demo: build
	./scripts/demo.sh

# The demo's federation, left running for exploration (make down stops it).
up: build
	./scripts/demo.sh up

down:
	./scripts/demo.sh down

# Container image FROM scratch with every binary, and the multi-region
# compose test (3 GNS nodes, four regions: five ISMGs, Beijing on two region-HA nodes, each region with its SMSC simulator); see deploy/README.md.
docker:
	./deploy/build-image.sh

compose-test:
	bash deploy/compose-test.sh

clean:
	rm -rf $(BIN) .demo
