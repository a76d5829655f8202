# The manager's image: a static binary on distroless, running as a non-root user.
#   docker build -t <registry>/tenant-operator:<tag> .
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/tenant-operator:<tag> \
#     --build-arg VERSION=<tag> --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) --push .
# The base images are pinned by digest (the tag beside it for the reader): two builds of one commit
# get one base. make pin-base-images refreshes both digests where a registry is reachable
# (internal/release.DefaultBase names the same run stage; a test checks). make image builds the
# same image without a build daemon (cmd/tenant-release).

# Build stage: runs on the builder's own platform and cross-compiles for each target (no
# emulation; the binary is pure Go).
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS builder
ARG TARGETOS
ARG TARGETARCH
# Stamped into the binary (internal/version) and the image's labels: make's VERSION, COMMIT and
# BUILD_DATE, e.g. --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD).
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=

WORKDIR /workspace
# The modules first, in a layer of their own that stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

# Then the packages the manager is built from (.dockerignore keeps everything else out).
COPY api/ api/
COPY cmd/main.go cmd/main.go
COPY controllers/ controllers/
COPY internal/ internal/
COPY webhook/ webhook/

# Static (no cgo), reproducible paths; the marketplace's time zone data is compiled in
# (time/tzdata). GOARCH is empty without buildx: the builder's own architecture.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w \
      -X github.com/cloudmarket-dev/tenant-operator/internal/version.version=${VERSION} \
      -X github.com/cloudmarket-dev/tenant-operator/internal/version.commit=${COMMIT} \
      -X github.com/cloudmarket-dev/tenant-operator/internal/version.date=${BUILD_DATE}" \
    -o manager ./cmd

# Run stage: no shell, no package manager, CA certificates for the Tencent Cloud APIs.
FROM gcr.io/distroless/static:nonroot@sha256:e2e927ec666bae08560abb3c55d0659eceabb657f56b6782ab500a9fc7f555e3
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=
LABEL org.opencontainers.image.title="tenant-operator" \
      org.opencontainers.image.description="Kubernetes operator that turns cloud-marketplace purchases into running, isolated SaaS tenants" \
      org.opencontainers.image.source="https://github.com/cloudmarket-dev/tenant-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
WORKDIR /
COPY --from=builder /workspace/manager .
# The numeric user lets the kubelet enforce runAsNonRoot (config/manager).
USER 65532:65532

ENTRYPOINT ["/manager"]
