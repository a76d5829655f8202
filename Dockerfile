# The manager's image: a static binary on distroless, running as a non-root user.
#   docker build -t <registry>/tenant-operator:<tag> .
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/tenant-operator:<tag> --push .

# Build stage.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# The modules first, in a layer of their own that stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

# Then the packages the manager is built from (.dockerignore keeps everything else out).
COPY api/ api/
COPY cmd/manager/ cmd/manager/
COPY controllers/ controllers/
COPY internal/ internal/
COPY webhook/ webhook/

# Static (no cgo), reproducible paths; the marketplace's time zone data is compiled in
# (time/tzdata). GOARCH is empty without buildx: the builder's own architecture.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager ./cmd/manager

# Run stage: no shell, no package manager, CA certificates for the Tencent Cloud APIs.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
# The numeric user lets the kubelet enforce runAsNonRoot (config/manager).
USER 65532:65532

ENTRYPOINT ["/manager"]
