# The gateway image: the static gateway build of ork (only `ork gateway` and
# `ork version`) on distroless/static:nonroot. No shell, no package manager,
# runs as 65532:65532.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t ghcr.io/orkspace/orkestra-gateway:VERSION .
#
# Without a container engine, `make image` assembles the same image with
# hack/image (see docs/install.md).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
# Set by BuildKit for the target platform (docker buildx build --platform ...).
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -tags gateway -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/ork ./cmd/ork

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
# The same labels as hack/image writes.
LABEL org.opencontainers.image.title="orkestra-gateway" \
      org.opencontainers.image.description="Orkestra Gateway: admission and conversion webhooks and notification relay, configured by a Katalog" \
      org.opencontainers.image.source="https://github.com/orkspace/orkestra-gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/ork /ork
USER 65532:65532
# 8443 webhooks (TLS), 8444 /notify (TLS), 8080 /livez /readyz /metrics.
EXPOSE 8443 8444 8080
ENTRYPOINT ["/ork", "gateway"]
