# Portcullis as a container image: the package built and installed in a build stage, then
# only the installed package (no dev dependencies, no TypeScript) on the runtime base.
# `make image` builds it with buildah on a base made locally; anywhere with a registry,
# `docker build .` uses the official Node 20 image.
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dev dependencies too: the build needs tsc. No install scripts: nothing here needs them.
# The optional build secret "ca" is a CA bundle for a network whose proxy re-signs TLS
# (NODE_EXTRA_CA_CERTS: a missing file is ignored with a warning).
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=ca \
    NODE_EXTRA_CA_CERTS=/run/secrets/ca npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json LICENSE CHANGELOG.md README.md ./
COPY bin ./bin
COPY src ./src
COPY bundles/portkey.tar.gz ./bundles/
COPY examples ./examples
COPY docs/deployment.md ./docs/
# The same artifact as a user's: the packed tarball, installed without dev dependencies.
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=ca \
    export NODE_EXTRA_CA_CERTS=/run/secrets/ca \
 && npm pack --silent --pack-destination /tmp \
 && mkdir /app && cd /app \
 && npm install --no-audit --no-fund --omit=dev --ignore-scripts /tmp/portcullis-*.tgz \
 && rm -rf /app/package-lock.json \
 && mkdir -p /state/audit-spill /state/decision-log-spill /state/bundle

FROM ${BASE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="portcullis" \
      org.opencontainers.image.description="Policy-as-code authorization sidecar: Rego compiled to WebAssembly, settings in Redis, an audit trail of every decision" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
WORKDIR /app
COPY --from=build /app /app
COPY deploy/image/healthcheck.mjs /app/healthcheck.mjs
# The only directory it writes: a volume (an emptyDir in Kubernetes), so the root
# filesystem can be read-only.
COPY --from=build --chown=10001:10001 /state /var/lib/portcullis
VOLUME /var/lib/portcullis
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8181 \
    GRPC_PORT=9191 \
    LOG_FORMAT=json \
    AUDIT_SPILL_DIR=/var/lib/portcullis/audit-spill \
    DECISION_LOGS_SPILL_DIR=/var/lib/portcullis/decision-log-spill
# A numeric user, so Kubernetes' runAsNonRoot can check it without a passwd entry.
USER 10001:10001
EXPOSE 8181 9191
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
# Exec form: node is PID 1 and gets SIGTERM itself; it drains, closes and exits (it has
# no child processes but its own workers, which it waits for).
ENTRYPOINT ["node", "/app/node_modules/portcullis/bin/portcullis.mjs"]
CMD ["serve"]
