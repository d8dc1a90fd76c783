# syntax=docker/dockerfile:1
# roamwatch image: the `roamwatch` CLI (processor, agent, watch, doctor, replay).
# Multi-stage: the build stage has the compilers and dev dependencies; the runtime stage
# has the compiled JavaScript, production dependencies and the rtnl-pipe helper, and runs
# as the unprivileged `node` user (the compose `agent` service overrides that; see there).

FROM node:24.22.3-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not re-install them.
COPY package.json package-lock.json ./
COPY core/package.json core/
COPY agent/package.json agent/
COPY processor/package.json processor/
COPY cli/package.json cli/
# A workspace of the repository (the test lab); only its manifest, so that npm ci agrees with the lock file.
COPY test/lab/package.json test/lab/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY core/ core/
COPY agent/ agent/
COPY processor/ processor/
COPY cli/ cli/
# The product packages only (not the test lab), and the agent's rtnl-pipe helper.
RUN npm run build:native -w agent \
 && npx tsc -b core agent processor cli \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24.22.3-bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="roamwatch" \
      org.opencontainers.image.description="Finds, explains and prevents strongSwan IKE_SA reauthentications caused by routing churn: agent, processor, watch, doctor, replay" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24.22.3-bookworm-slim" \
      org.opencontainers.image.documentation="docs/deploy.md"
ENV NODE_ENV=production
# `roamwatch agent` and `roamwatch processor` write their readiness report here and the
# HEALTHCHECK below reads it (`roamwatch health`; docs/deploy.md "Healthchecks").
ENV ROAMWATCH_HEALTH_FILE=/run/roamwatch/health.json
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/core/package.json core/
COPY --from=build /src/core/dist/ core/dist/
COPY --from=build /src/agent/package.json agent/
COPY --from=build /src/agent/dist/ agent/dist/
COPY --from=build /src/agent/native/build/ agent/native/build/
COPY --from=build /src/processor/package.json processor/
COPY --from=build /src/processor/dist/ processor/dist/
COPY --from=build /src/cli/package.json cli/
COPY --from=build /src/cli/dist/ cli/dist/
COPY --from=build /src/cli/bin/ cli/bin/
RUN mkdir -p /var/lib/roamwatch/spool /run/roamwatch && chown -R node:node /var/lib/roamwatch /run/roamwatch
USER node
# Ready, not merely alive: Kafka group joined / sink acknowledging, InfluxDB reachable, lag
# bounded, VICI and rtnetlink connected (per command). A one-shot command (doctor, replay)
# writes no report: run those with --no-healthcheck.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/cli/bin/roamwatch.js", "health"]
ENTRYPOINT ["node", "/app/cli/bin/roamwatch.js"]
CMD ["--help"]
