# runbook-operator: every procedure of the ops runbook as a Kubernetes custom resource.
#
#   make demo     the operator's main job on the built-in local cluster
#   make test     every test suite (builds the test binaries from source on first use)

IMG ?= ghcr.io/runbook-operator/runbook-operator:latest
KUBECTL ?= kubectl
CONTAINER_TOOL ?= docker

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

# Tools run through `go run` at pinned versions: nothing is downloaded but Go modules.
CONTROLLER_GEN ?= go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
KUSTOMIZE ?= go run sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
GOLANGCI_LINT ?= go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

# kube-apiserver, kube-controller-manager, etcd and versitygw built from source into a
# cache outside the checkout (hack/test-binaries.sh); KUBEBUILDER_ASSETS points there.
# The agent image's file system and a PostgreSQL 17 one are built with debootstrap into
# the same cache (hack/rootfs.sh); the agent's image tests run inside them.
TEST_ASSETS = $(shell hack/test-binaries.sh --print)
# helm, built from source by the same script into its own cache entry: the chart's
# tests (test/install) and its e2e spec run it.
export HELM_BIN ?= $(shell hack/test-binaries.sh --print-helm)
GO_TEST_FLAGS ?= -count=1 -timeout=75m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs and the manager ClusterRole from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./internal/controller/..." paths="./internal/dblock/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: alert-rules
alert-rules: ## Write config/prometheus's alert rules file and PrometheusRule from internal/alerting.
	go run ./cmd/alertrules

.PHONY: verify
verify: manifests generate alert-rules build-installer helm-chart ## Regenerate, check gofmt, go vet and go mod tidy, and fail when the tree changed.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	go vet ./...
	@if ! go mod tidy -diff >/dev/null; then echo "go.mod/go.sum are not tidy; run 'go mod tidy' and commit:"; go mod tidy -diff; exit 1; fi
	@if [ -n "$$(git status --porcelain -- api config internal cmd dist charts)" ]; then \
		echo "generated files are out of date; run 'make manifests generate build-installer helm-chart' and commit:"; \
		git status --porcelain -- api config internal cmd dist charts; git --no-pager diff --stat; exit 1; fi
	@echo "verify: tree clean"

.PHONY: lint
lint: ## Run golangci-lint (v2, through go run).
	$(GOLANGCI_LINT) run ./...

.PHONY: test-binaries
test-binaries: ## Build kube-apiserver, kube-controller-manager, kubectl, etcd, versitygw and helm from source (cached; the e2e runs kubectl and helm from there).
	hack/test-binaries.sh

.PHONY: rootfs
rootfs: ## Build the agent image's runtime file system and a PostgreSQL 17 one with debootstrap (cached).
	@hack/rootfs.sh >/dev/null

.PHONY: test
test: test-binaries rootfs ## Run every test: CRD validation, unit, envtest, data-plane and end-to-end suites.
	@echo "== CRD validation (envtest: real kube-apiserver and etcd) ($$(date -u +%T))"
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test $(GO_TEST_FLAGS) -v ./api/... | grep -E '^\s*(--- |ok|FAIL|PASS|panic)|crd-validation' 
	@echo "== all other packages, and the end-to-end suite in two halves plus TestDemo, each on a devcluster of its own (etcd, kube-apiserver, kube-controller-manager, node agent, PostgreSQL, Redis, S3, the Django app), all at once; each prints its output when it finishes ($$(date -u +%T))"
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" hack/test-suites.sh $(GO_TEST_FLAGS)

.PHONY: demo
demo: test-binaries ## Start the devcluster and the operator, walk through the Django app, backups, a restore, a schedule, a secret rotation, a release with rollback and a failing backup whose alert opens an Incident; stays up until Ctrl-C (DEMO_ARGS=--exit-when-done to stop after; --operator-image runs the manager in-cluster from make image, installed from dist/install.yaml).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go run ./cmd/demo --dir .devcluster $(DEMO_ARGS)

.PHONY: test-e2e
test-e2e: test-binaries ## Only the end-to-end suite on a devcluster with the manager, plus make demo run with --exit-when-done (TestDemo).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test $(GO_TEST_FLAGS) -tags=e2e ./test/e2e/ -v -ginkgo.v

.PHONY: devcluster
devcluster: test-binaries ## Start the local cluster (with the manager, Prometheus and Alertmanager) and keep it up until Ctrl-C.
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go run ./cmd/devcluster --dir .devcluster --manager

##@ Benchmarks (figures, not pass/fail)

.PHONY: bench-backup
bench-backup: test-binaries ## Agent backup/restore against pg_dump, pg_dump|gzip and pg_restore (sizes: BENCH_SIZES_MB).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" hack/bench-backup.sh

.PHONY: bench-rotation
bench-rotation: test-binaries ## SecretRotation: the controller's own share of each phase, three Deployments, instant rollouts (envtest).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test ./internal/controller -run '^$$' -bench RotationControllerShare -benchtime 10x -v

.PHONY: bench-rotation-devcluster
bench-rotation-devcluster: test-binaries ## SecretRotation of a Release of three components on the devcluster: rotateRequest to every pod Ready, per phase, and the controller's share (BENCH_ROTATIONS, default 3).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test -tags=e2e,bench ./test/e2e/ -run TestE2E -timeout 30m -v -ginkgo.v -ginkgo.label-filter='bench && !bench-release'

.PHONY: bench-release
bench-release: test-binaries ## Release on the devcluster: rollback of a failing revision (to templates, to pods Ready; with openIncident, to the Incident's evidence; by the PromQL verification, from the first bad sample), the controller's own time per pipeline step, manager memory with 100 Releases (BENCH_RELEASE_RUNS, default 5; BENCH_RELEASES, default 100); requests that reach a bad revision with and without spec.canary (BENCH_CANARY_RUNS, default 3).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test -tags=e2e,bench ./test/e2e/ -run TestE2E -timeout 40m -v -ginkgo.v -ginkgo.label-filter=bench-release

.PHONY: bench-controller
bench-controller: test-binaries ## 1,000 DatabaseBackups at once against envtest: time to all Jobs, manager peak memory.
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test ./internal/controller -run '^$$' -bench ThousandBackups -benchtime 1x -v

.PHONY: bench-incident
bench-incident: test-binaries ## 1,000 open Incidents, each with a webhook notifier, against envtest: time to every notification, manager memory, CPU and reconciles per incident, then a quiet minute's (BENCH_INCIDENTS, BENCH_QUIET).
	KUBEBUILDER_ASSETS="$(TEST_ASSETS)" go test ./internal/controller -run '^$$' -bench ThousandIncidents -benchtime 1x -v

##@ Build

.PHONY: build
build: ## Build the manager and agent binaries into bin/.
	go build -o bin/manager ./cmd/manager
	@if [ -d cmd/agent ]; then go build -o bin/agent ./cmd/agent; fi

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-runbook (on PATH, it is `kubectl runbook`; see docs/plugin.md).
	go build -o bin/kubectl-runbook ./cmd/kubectl-runbook

.PHONY: plugin-dist
plugin-dist: ## Build the plugin's krew archives and manifest into dist/plugin/ (PLUGIN_URL, PLUGIN_VERSION, PLUGIN_PLATFORMS).
	hack/plugin-dist.sh

.PHONY: run
run: manifests ## Run the manager against the cluster in ~/.kube/config.
	go run ./cmd/manager --metrics-secure=false --agent-image=$(IMG)

# make image: the image built without a container engine (cmd/imagebuild), from the
# runtime file system hack/rootfs.sh builds and the binaries built as the Dockerfile
# builds them. Written into the cache (keyed by content); the paths are printed.
IMAGE_SOURCE ?= https://github.com/runbook-operator/runbook-operator
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
IMAGEBUILD = SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) go run ./cmd/imagebuild --rootfs "$$(hack/rootfs.sh | head -1)" --tag $(IMG) \
	--source $(IMAGE_SOURCE) --revision "$(IMAGE_REVISION)" --version "$(IMAGE_VERSION)"

.PHONY: image
image: ## Build the OCI image (linux/amd64) with no container engine: prints oci:DIR and docker-archive:FILE.
	$(IMAGEBUILD)

.PHONY: image-push
image-push: ## Build the image and push it to IMG (credentials of docker/podman login).
	$(IMAGEBUILD) --push

.PHONY: docker-build
docker-build: ## Build the image (manager, agent, PostgreSQL client tools 13-17).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml: CRDs, RBAC, the manager Deployment with image IMG (config/ untouched).
	mkdir -p dist
	hack/build-installer.sh $(IMG) > dist/install.yaml.tmp && mv dist/install.yaml.tmp dist/install.yaml

.PHONY: helm-chart
helm-chart: build-installer ## Write the Helm chart's CRDs and RBAC (charts/runbook-operator) from dist/install.yaml.
	go run ./cmd/helmchart

##@ Deployment

ignore-not-found ?= false

.PHONY: install
install: manifests ## Install the CRDs into the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests ## Deploy the manager (image IMG) into the cluster: what build-installer writes.
	hack/build-installer.sh $(IMG) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the manager from the cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -
