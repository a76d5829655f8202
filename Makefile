# tenant-operator — the Makefile is the contract: every target below works on a fresh machine.

IMG ?= tenant-operator:dev
# Extra flags of make image (tenant-release image --help), e.g. IMAGE_ARGS=--insecure for a
# plain-HTTP local registry.
IMAGE_ARGS ?=
# Kubernetes version of the test control plane (kube-apiserver, etcd, kubectl).
ENVTEST_K8S_VERSION ?= 1.37.2
# Go test flags; e.g. make test TESTFLAGS='-run TestTenant -v'.
TESTFLAGS ?=
# Seed of the long property run (0: from the clock).
PROPERTY_SEED ?= 0
FUZZTIME ?= 10s

# Release version of the kubectl tenant plugin (krew wants a semantic version with a leading v).
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null || echo v0.0.0-dev)
# The build's commit and date, stamped with VERSION into the manager and the plugin
# (internal/version: manager --version, kubectl tenant version, the image's labels).
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
# The date is the commit's (SOURCE_DATE_EPOCH, below), so that one commit builds to the same bytes.
BUILD_DATE ?= $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r $(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/cloudmarket-dev/tenant-operator/internal/version
LDFLAGS ?= -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).date=$(BUILD_DATE)
# Where the plugin archives of VERSION are published; the krew manifest points there.
PLUGIN_BASE_URL ?= https://github.com/cloudmarket-dev/tenant-operator/releases/download/$(VERSION)
# Platforms plugin-dist builds (os/arch); the krew template names the same ones.
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
# Platforms of the manager's image (linux/<arch>; make manager-dist, make image).
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
# The commit's time (seconds since the epoch): BUILD_DATE, and the date recorded in the image and
# the chart archive, so that one commit builds to the same binaries and digests.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
SETUP_ENVTEST_VERSION ?= v0.25.1
KUSTOMIZE_VERSION ?= v5.8.2

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
SETUP_ENVTEST ?= $(LOCALBIN)/setup-envtest-$(SETUP_ENVTEST_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
KUBEBUILDER_VERSION ?= v4.16.0
KUBEBUILDER ?= $(LOCALBIN)/kubebuilder-$(KUBEBUILDER_VERSION)

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers, and copy what the Helm chart ships verbatim into charts/tenant-operator/files.
	$(CONTROLLER_GEN) rbac:roleName=tenant-operator crd paths="./..." output:crd:artifacts:config=config/crd/bases
	hack/chart-files.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: verify
verify: $(CONTROLLER_GEN) lint ## Fail if generated code or manifests are stale, code is unformatted, go.mod untidy, vet or golangci-lint unhappy (also under the e2e and faults tags).
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify.sh

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint with .golangci.yml (built from source on first use, ~5 min on 2 cores).
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest
envtest: $(SETUP_ENVTEST) ## Provide kube-apiserver, etcd and kubectl for tests (cached; built from source when no download works).
	@SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh >/dev/null

.PHONY: test
test: verify envtest ## Every test against a real kube-apiserver and etcd (-race), then 1,000 random marketplace call sequences.
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		PROPERTY_SEQUENCES=100 go test -race -count=1 $(TESTFLAGS) ./...
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		PROPERTY_SEQUENCES=1000 PROPERTY_SEED=$(PROPERTY_SEED) go test -count=1 -run TestPropertyRandomSequences ./webhook/

.PHONY: test-e2e
test-e2e: $(SETUP_ENVTEST) ## End-to-end tests on the simulated cluster (KWOK), driven by the marketplace simulators over HTTP; make run's devenv interrupted with Ctrl-C; the Helm chart installed with the Helm SDK.
	SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) \
		ENVTEST_EXTRA_BINARIES="kube-controller-manager kube-scheduler" hack/envtest.sh >/dev/null
	go test -tags e2e -count=1 -p 1 -timeout 25m -v ./test/e2e/ ./test/devenv/ ./test/helm/

.PHONY: test-installer
test-installer: build-installer envtest ## Server-side apply dist/install.yaml, dry-run, to a real kube-apiserver (test/manifests).
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		INSTALLER_FILE=$(CURDIR)/dist/install.yaml go test -count=1 -run TestInstallerApplies -v ./test/manifests/

.PHONY: test-faults
test-faults: $(SETUP_ENVTEST) ## Fault tests on a fresh simulated cluster: manager SIGKILLed, API server failing and down, committed writes with lost answers and cut watches, leader killed (FAULTS_PURCHASES, default 1000).
	SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) \
		ENVTEST_EXTRA_BINARIES="kube-controller-manager kube-scheduler" hack/envtest.sh >/dev/null
	go test -tags faults -count=1 -timeout 45m -v ./test/faults/

.PHONY: test-property
test-property: envtest ## The long property run: 10,000 random marketplace call sequences (PROPERTY_SEED=… replays one).
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		PROPERTY_SEQUENCES=10000 PROPERTY_SEED=$(PROPERTY_SEED) go test -count=1 -timeout 60m -run TestPropertyRandomSequences -v ./webhook/

.PHONY: fuzz
fuzz: ## Every Go fuzz target (hack/fuzz.sh finds them), FUZZTIME each (default 10s); a failing input is kept in <pkg>/testdata/fuzz/.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: bench
bench: envtest ## The benchmark suite on a real API server (B1-B5): prints a table and writes docs/benchmarks.md.
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		go run ./cmd/tenant-bench $(BENCH_ARGS)

.PHONY: bench-check
bench-check: envtest ## A short bench (100 tenants: B1, B2, B5 cache, B8 idle and resync) that fails when requests per tenant, per resynced tenant, idle requests/s or the cache per tenant regress (limits in cmd/tenant-bench/check.go).
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh)" \
		go run ./cmd/tenant-bench --check --tenants 100 --idle 20s $(BENCH_ARGS)

.PHONY: bench-simcluster
bench-simcluster: $(SETUP_ENVTEST) ## B2, B4 and B9 on a fresh simulated cluster (real rollouts); writes docs/benchmarks-simcluster.md.
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) \
		ENVTEST_EXTRA_BINARIES="kube-controller-manager kube-scheduler" hack/envtest.sh)" \
		go run ./cmd/tenant-bench --simcluster $(BENCH_ARGS)

##@ Build

.PHONY: build
build: build-plugin ## Build the manager binary and the kubectl tenant plugin into bin/.
	go build -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/manager ./cmd

.PHONY: build-plugin
build-plugin: ## Build the kubectl tenant plugin into bin/kubectl-tenant (put it on PATH).
	go build -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/kubectl-tenant ./cmd/kubectl-tenant

.PHONY: plugin-dist
plugin-dist: ## Write dist/kubectl-tenant_<os>_<arch>.tar.gz and the krew manifest dist/krew-tenant.yaml (VERSION, PLUGIN_BASE_URL).
	rm -rf dist/plugin && mkdir -p dist/plugin
	for platform in $(PLUGIN_PLATFORMS); do \
		os=$${platform%/*}; arch=$${platform#*/}; dir=dist/plugin/$${os}_$${arch}; \
		mkdir -p $$dir; \
		echo "building kubectl-tenant $(VERSION) for $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$dir/kubectl-tenant ./cmd/kubectl-tenant; \
		files=kubectl-tenant; \
		if [ -f LICENSE ]; then cp LICENSE $$dir/; files="$$files LICENSE"; fi; \
		tar -C $$dir -czf dist/kubectl-tenant_$${os}_$${arch}.tar.gz $$files; \
	done
	hack/krew-manifest.sh cmd/kubectl-tenant/krew.yaml dist $(VERSION) $(PLUGIN_BASE_URL) > dist/krew-tenant.yaml.tmp
	mv dist/krew-tenant.yaml.tmp dist/krew-tenant.yaml
	rm -rf dist/plugin
	@echo "dist/krew-tenant.yaml: install with 'kubectl krew install --manifest dist/krew-tenant.yaml' once the archives are at $(PLUGIN_BASE_URL)"

.PHONY: manager-dist
manager-dist: ## Write the static manager binaries dist/manager_linux_<arch> of IMAGE_PLATFORMS (VERSION, COMMIT, BUILD_DATE).
	mkdir -p dist
	for platform in $(IMAGE_PLATFORMS); do \
		os=$${platform%/*}; arch=$${platform#*/}; \
		echo "building manager $(VERSION) for $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '-s -w $(LDFLAGS)' -o dist/manager_$${os}_$${arch} ./cmd; \
	done

.PHONY: chart-dist
chart-dist: ## Write the packaged chart dist/tenant-operator-<VERSION without v>.tgz (version VERSION, appVersion VERSION).
	go run ./cmd/tenant-release chart --version $(VERSION) --out dist charts/tenant-operator

# What a release publishes, as globs in dist/ (make dist sums them, make dist-check wants each summed).
DIST_FILES := install.yaml krew-tenant.yaml kubectl-tenant_*.tar.gz manager_linux_* tenant-operator-*.tgz

.PHONY: dist
dist: build-installer plugin-dist manager-dist chart-dist ## Everything a release publishes, into dist/, with dist/checksums.txt (check: cd dist && sha256sum -c checksums.txt).
	cd dist && rm -f checksums.txt && sha256sum $(DIST_FILES) > checksums.txt.tmp && mv checksums.txt.tmp checksums.txt
	@echo "dist/checksums.txt: $$(wc -l < dist/checksums.txt) files"

.PHONY: dist-check
dist-check: ## Verify dist/ against dist/checksums.txt (sha256sum -c) and that every published file is listed.
	cd dist && sha256sum --strict -c checksums.txt
	cd dist && for f in $(DIST_FILES); do \
		grep -q "  $$f$$" checksums.txt || { echo "$$f is not in checksums.txt"; exit 1; }; done

.PHONY: image
image: manager-dist ## Build the manager's multi-platform image (IMAGE_PLATFORMS) on the pinned base and push it to IMG, with no container engine; dist/image.txt names it by digest.
	go run ./cmd/tenant-release image $(foreach p,$(IMAGE_PLATFORMS),--binary $(p)=dist/manager_$(subst /,_,$(p))) \
		--version $(VERSION) --commit $(COMMIT) --push $(IMG) --digest-file dist/image.txt $(IMAGE_ARGS)

.PHONY: pin-base-images
pin-base-images: ## Re-pin the Dockerfile's and the release's base images to their tags' current digests (needs the registries).
	builder=$$(go run ./cmd/tenant-release resolve golang:1.26) && \
	base=$$(go run ./cmd/tenant-release resolve gcr.io/distroless/static:nonroot) && \
	sed -i -E "s|golang:1\.26@sha256:[0-9a-f]{64}|$$builder|; s|gcr\.io/distroless/static:nonroot@sha256:[0-9a-f]{64}|$$base|" Dockerfile && \
	sed -i -E "s|gcr\.io/distroless/static:nonroot@sha256:[0-9a-f]{64}|$$base|" internal/release/image.go && \
	echo "pinned $$builder and $$base"

.PHONY: kubebuilder-check
kubebuilder-check: $(KUBEBUILDER) $(KUSTOMIZE) $(CONTROLLER_GEN) ## Prove PROJECT matches the layout: kubebuilder create api in a copy of the tree, which must still build and install the new CRD.
	hack/kubebuilder-check.sh $(KUBEBUILDER) $(KUSTOMIZE) $(LOCALBIN)

.PHONY: run
run: $(SETUP_ENVTEST) ## Run the operator against the current kubeconfig's cluster, or the simulated cluster (KWOK) when there is none (RUN_ARGS=--zap-log-level=debug for debug logs).
	KUBEBUILDER_ASSETS="$$(SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) \
		ENVTEST_EXTRA_BINARIES="kube-controller-manager kube-scheduler" hack/envtest.sh)" \
		go run ./cmd/devenv $(RUN_ARGS)

.PHONY: simcluster
simcluster: $(SETUP_ENVTEST) ## Create or start the simulated cluster (real control plane, KWOK nodes); prints its kubeconfig.
	SETUP_ENVTEST=$(SETUP_ENVTEST) ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/simcluster.sh up

.PHONY: simcluster-down
simcluster-down: ## Delete the simulated cluster.
	hack/simcluster.sh down

##@ Deployment

.PHONY: install
install: manifests $(KUSTOMIZE) ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests $(KUSTOMIZE) ## Remove the CRDs (tenant namespaces and data are left in place).
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests $(KUSTOMIZE) ## Deploy the operator (image IMG) to the cluster of the current kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove the operator (tenant namespaces and data are left in place).
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests $(KUSTOMIZE) ## Write dist/install.yaml: CRDs, RBAC and the manager in one file.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Tools (pinned, installed into ./bin)

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(GOLANGCI_LINT): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(SETUP_ENVTEST): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-runtime/tools/setup-envtest@$(SETUP_ENVTEST_VERSION)
	mv $(LOCALBIN)/setup-envtest $@

$(KUBEBUILDER): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kubebuilder/v4@$(KUBEBUILDER_VERSION)
	mv $(LOCALBIN)/kubebuilder $@

$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@
