# The service image: Node 20 running the TypeScript sources through tsx (as `npm start` does).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY gen ./gen
COPY migrations ./migrations
COPY src ./src
COPY tsconfig.json ./
# Listening on 0.0.0.0 needs API keys (API_KEYS or API_KEYS_FILE), or ALLOW_OPEN_ACCESS=true when
# only trusted clients can reach the port (docker-compose.yml publishes it on loopback).
ENV HOST=0.0.0.0 PORT=8321 BLOB_DIR=/data/blobs
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8321
USER node
CMD ["node", "--enable-source-maps", "--import", "tsx", "src/main.ts"]
