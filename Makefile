# pixpool: `make test` runs every test (what CI runs), `make serve` runs the
# server on embedded defaults with recognition set up.

GO      ?= go
FUZZTIME ?= 10s
# Recognition models and test photos, fetched once and kept between runs, in
# the user's cache folder, where serve and analyze look when the data folder
# has none: $XDG_CACHE_HOME/pixpool (if an absolute path), else
# ~/.cache/pixpool.
RECOGNITION_DIR ?= $(if $(filter /%,$(XDG_CACHE_HOME)),$(XDG_CACHE_HOME),$(HOME)/.cache)/pixpool

.PHONY: all build serve test test-deps vet unit fuzz bench image

all: build

build:
	$(GO) build -o bin/pixpool ./cmd/pixpool

# serve installs the recognition models first (checks them and skips the
# download when they are there), then runs the server, which finds them in
# RECOGNITION_DIR's default folder. `go run ./cmd/pixpool serve` alone runs
# it without them unless they are already there.
serve:
	./scripts/setup-recognition.sh "$(RECOGNITION_DIR)"
	$(GO) run ./cmd/pixpool serve

# test installs what the tests need (idempotent), then vets, runs every
# test with the race detector against real PostgreSQL and S3 servers it
# starts and stops, and runs each fuzzer briefly.
test: test-deps vet unit fuzz

test-deps:
	./scripts/test-deps.sh
	./scripts/setup-recognition.sh --tests "$(RECOGNITION_DIR)"

vet:
	$(GO) vet ./...

# unit runs every test with a throwaway PostgreSQL and S3 server and a
# Kubernetes control plane (etcd, kube-apiserver) up.
unit:
	PIXPOOL_RECOGNITION_DIR="$(RECOGNITION_DIR)" ./scripts/with-services.sh $(GO) test -race -count=1 -timeout=30m ./...

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzValidateKey$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s .
	$(GO) test -run='^$$' -fuzz='^FuzzInspect$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./imaging
	$(GO) test -run='^$$' -fuzz='^FuzzDecodePNG16$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./imaging
	$(GO) test -run='^$$' -fuzz='^FuzzJPEGCheck$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./imaging
	$(GO) test -run='^$$' -fuzz='^FuzzStrip$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./imaging
	$(GO) test -run='^$$' -fuzz='^FuzzUpload$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./http

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# image builds the container images without a container engine (see
# docs/image.md) as OCI image layout tarballs: bin/pixpool-image.tar, and
# bin/pixpool-recognition-image.tar with Tesseract and the recognition models.
# Dated by the last commit, so two builds of one commit give one digest.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w -X github.com/pixpool/pixpool.Version=$(VERSION)" -o bin/pixpool-linux-amd64 ./cmd/pixpool
	./scripts/setup-recognition.sh "$(RECOGNITION_DIR)"
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)} $(GO) run ./scripts/image --binary bin/pixpool-linux-amd64 --version "$(VERSION)" --out bin/pixpool-image.tar
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)} $(GO) run ./scripts/image --binary bin/pixpool-linux-amd64 --version "$(VERSION)" --recognition "$(RECOGNITION_DIR)" --out bin/pixpool-recognition-image.tar
