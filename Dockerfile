# One image for the manager and the agent that backup, restore and verify Jobs run.
# It cannot be built on the development machines of this project (no container engine
# and no base images are reachable there); this is the Dockerfile as it would ship.
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

# PostgreSQL 17 client tools: pg_dump 17 dumps servers 9.2 through 17 (so 13-17, the
# supported ones), and pg_restore 17 restores its own dumps into them.
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-17 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/17/bin:$PATH
COPY --from=builder /out/manager /manager
COPY --from=builder /out/agent /agent
USER 65532:65532
ENTRYPOINT ["/manager"]
