# Orkestra Gateway. `make demo` and `make test` are the two commands to know.

GO      ?= go
BIN     := bin
EXAMPLES := $(wildcard examples/*/katalog.yaml)

# ork version reports these; without them it falls back to Go's build info,
# which has no commit when VCS stamping is off (-buildvcs=false).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
XFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build build-gateway test validate-examples lint sizes demo clean image bench release

all: build

# The toolchain: validate, generate, gateway, version.
build:
	$(GO) build -ldflags "$(XFLAGS)" -o $(BIN)/ork ./cmd/ork

# The gateway image binary: only gateway and version, static and stripped.
build-gateway:
	CGO_ENABLED=0 $(GO) build -tags gateway -trimpath -ldflags "-s -w $(XFLAGS)" -o $(BIN)/ork-gateway ./cmd/ork

# Every test, against a real kube-apiserver and etcd (hack/testenv.sh builds
# them once, about 10 minutes cold, then caches them), then the examples.
# Needs root (pod sandboxes), and unshare and ip for e2e/ha, which runs its
# replicas behind a Service in a private network namespace.
test: validate-examples
	KUBEBUILDER_ASSETS="$$(bash hack/testenv.sh)" ORK_MAILPIT="$$(bash hack/mailpit.sh)" $(GO) test -timeout 30m ./...
	$(GO) test -C hack/image ./...
	$(GO) test -C hack/release ./...
	$(GO) test -C hack/monitoring ./...
	KUBEBUILDER_ASSETS="$$(bash hack/testenv.sh)" $(GO) test -C hack/install -timeout 20m ./...

# Every example is valid and passes its test suite (examples/*/ork-test.yaml).
validate-examples: build
	$(BIN)/ork validate $(addprefix -f ,$(EXAMPLES))
	$(BIN)/ork test examples

# The linters are pinned in hack/tools (go run -modfile, so this module does
# not depend on them). gofmt and goimports (imports in three groups: standard
# library, others, this module) must have nothing to say; go vet and
# staticcheck cover both builds and the hack/ modules.
TOOLS := $(GO) run -modfile=$(CURDIR)/hack/tools/go.mod
HACK_MODULES := hack/image hack/release hack/install hack/monitoring
lint:
	@out="$$(gofmt -l . && $(TOOLS) golang.org/x/tools/cmd/goimports -local github.com/orkspace/orkestra-gateway -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt/goimports needed (goimports -local github.com/orkspace/orkestra-gateway -w FILE):"; echo "$$out" | sort -u; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags gateway ./cmd/ork/...
	$(TOOLS) honnef.co/go/tools/cmd/staticcheck ./...
	$(TOOLS) honnef.co/go/tools/cmd/staticcheck -tags gateway ./cmd/ork/...
	@for m in $(HACK_MODULES); do \
		echo "vet, staticcheck: $$m"; \
		$(GO) vet -C $$m ./... && (cd $$m && $(TOOLS) honnef.co/go/tools/cmd/staticcheck ./...) || exit 1; \
	done

# Stripped sizes of both builds.
sizes:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(XFLAGS)" -o $(BIN)/ork-stripped ./cmd/ork
	CGO_ENABLED=0 $(GO) build -tags gateway -trimpath -ldflags "-s -w $(XFLAGS)" -o $(BIN)/ork-gateway ./cmd/ork
	@for f in $(BIN)/ork-stripped $(BIN)/ork-gateway; do \
		wc -c < $$f | awk -v f=$$f '{ printf "%-20s %10d bytes %6.1f MiB\n", f, $$1, $$1 / 1048576 }'; \
	done

# A walkthrough of every feature on a local kube-apiserver and etcd, the gateway
# in a pod sandbox (needs root). Runs until Ctrl-C, which removes everything;
# DEMO_NONINTERACTIVE=1 checks each step and exits (CI).
demo: validate-examples build-gateway
	$(GO) build -o $(BIN)/ork-demo ./hack/demo
	$(BIN)/ork-demo --ork $(BIN)/ork --gateway $(BIN)/ork-gateway

# Benchmarks against baselines measured in the same run (about 10 minutes; root
# for the pod sandbox, unshare and ip for the Service-mode suite): writes
# bench/results.json and docs/benchmarks.md.
bench:
	KUBEBUILDER_ASSETS="$$(bash hack/testenv.sh)" $(GO) run ./bench/cmd/bench

IMAGE ?= ghcr.io/orkspace/orkestra-gateway:$(VERSION)

# The gateway image as an OCI layout tar, without a container engine.
image: build-gateway
	$(GO) run -C hack/image . -binary $(CURDIR)/$(BIN)/ork-gateway \
		-out $(CURDIR)/dist/orkestra-gateway-image.tar -tag $(IMAGE) -version $(VERSION) -revision $(COMMIT)

# A release into dist/: ork for linux and darwin (amd64, arm64), the gateway
# build for linux (amd64, arm64), the image of both as one OCI image index,
# an SPDX SBOM of the gateway build, the bundle of every example (naming the
# image by digest), and SHA256SUMS; then everything is verified. Needs only
# Go and the module proxy. VERSION=vX.Y.Z is required.
RELEASE_IMAGE_REPO ?= ghcr.io/orkspace/orkestra-gateway
TOOLCHAIN_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
GATEWAY_PLATFORMS   := linux/amd64 linux/arm64
HOST_PLATFORM        = $(shell $(GO) env GOOS)-$(shell $(GO) env GOARCH)

release:
	@case "$(origin VERSION)" in command\ line|environment) ;; *) echo "make release needs VERSION=vX.Y.Z" >&2; exit 2;; esac
	@echo "$(VERSION)" | grep -Eq '^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$$' || { echo "VERSION=$(VERSION) is not vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2; exit 2; }
	rm -rf dist && mkdir -p dist/bundles $(BIN)
	@export SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0); set -e; \
	gateways=""; \
	for p in $(GATEWAY_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "gateway  $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -tags gateway -trimpath -ldflags "-s -w $(XFLAGS)" -o dist/ork-gateway-$$os-$$arch ./cmd/ork; \
		gateways="$$gateways -binary $(CURDIR)/dist/ork-gateway-$$os-$$arch"; \
	done; \
	$(GO) run -C hack/image . $$gateways -out $(CURDIR)/dist/orkestra-gateway-image.tar \
		-tag $(RELEASE_IMAGE_REPO):$(VERSION) -version $(VERSION) -revision $(COMMIT) -digest-file $(CURDIR)/$(BIN)/image-digest; \
	image="$(RELEASE_IMAGE_REPO):$(VERSION)@$$(cat $(BIN)/image-digest)"; \
	for p in $(TOOLCHAIN_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "ork      $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(XFLAGS) -X main.image=$$image" -o dist/ork-$$os-$$arch ./cmd/ork; \
	done; \
	for k in $(EXAMPLES); do \
		name=$$(basename $$(dirname $$k)); \
		dist/ork-$(HOST_PLATFORM) generate bundle --for gateway -f $$k > dist/bundles/$$name.yaml; \
	done; \
	$(GO) run -C hack/release . sbom -version $(VERSION) -out $(CURDIR)/dist/sbom.spdx.json $(foreach p,$(GATEWAY_PLATFORMS),$(CURDIR)/dist/ork-gateway-$(subst /,-,$(p))); \
	$(GO) run -C hack/release . checksums $(CURDIR)/dist; \
	$(GO) run -C hack/release . verify -version $(VERSION) -examples $(CURDIR)/examples $(CURDIR)/dist

clean:
	rm -rf $(BIN) dist
