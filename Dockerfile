# The service image, in two stages: the build stage compiles the TypeScript to dist/ with every
# dev dependency; the runtime stage holds the compiled JS, the migrations, the generated OpenAPI
# document and the production dependencies only (no tsx, no TypeScript, no embedded Postgres:
# an image always runs against a Postgres of its own, given by DATABASE_URL).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# A compiler for the native SHA-256 (native/sha256_state.c), against the image's own Node headers.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/Release/sha256_state.node ./build/Release/sha256_state.node
COPY gen/openapi.json ./gen/openapi.json
COPY migrations ./migrations
# Listening on 0.0.0.0 needs API keys (API_KEYS or API_KEYS_FILE), or ALLOW_OPEN_ACCESS=true when
# only trusted clients can reach the port (docker-compose.yml publishes it on loopback).
ENV HOST=0.0.0.0 PORT=8321 BLOB_DIR=/data/blobs
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8321
USER node
# The consistency check: docker compose exec files node dist/src/fsck/main.js [--repair]
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
