# One image for the manager and the agent that backup, restore and verify Jobs run.
# For users with a container engine. The project builds the same image without one
# (make image: cmd/imagebuild, from hack/rootfs.sh's debootstrap of the same package
# list); internal/ociimage's TestDockerfileAgrees checks both give the same package
# list, binaries, build flags, user, entrypoint and working directory. This file
# itself cannot be built here (no container engine, no base images reachable).
ARG GO_IMAGE=golang:1.26-trixie
ARG BASE_IMAGE=debian:trixie-slim

FROM ${GO_IMAGE} AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager \
 && CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o /out/agent ./cmd/agent

# PostgreSQL client tools for every server major Debian carries: hack/image-packages.txt
# is the one list (hack/rootfs.sh builds the same file system for the tests). Tools of
# other suites (13 from bullseye, 15 from bookworm) are unpacked by
# hack/image-tools.sh in a stage of their own and only /usr/lib/postgresql/<major> is
# copied; they run on the runtime stage's libpq5, zlib, lz4, zstd and readline. The
# agent picks the tools of the server's major (else the nearest newer) itself: no PATH
# entry for them. No Debian suite carries 14 or 16 (see cmd/agent/README.md).
FROM ${BASE_IMAGE} AS tools
COPY hack/image-packages.txt hack/image-tools.sh /tmp/
RUN sh /tmp/image-tools.sh /tmp/image-packages.txt /out

FROM ${BASE_IMAGE}
COPY hack/image-packages.txt /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(awk '!/^#/ && NF == 3 && $3 == "install" {print $2}' /tmp/image-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/image-packages.txt
COPY --from=tools /out/usr/lib/postgresql/ /usr/lib/postgresql/
COPY --from=builder /out/manager /manager
COPY --from=builder /out/agent /agent
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/manager"]
