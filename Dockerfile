# The service image: Node 20 running the TypeScript sources through tsx (as `npm start` does).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY gen ./gen
COPY migrations ./migrations
COPY src ./src
COPY tsconfig.json ./
ENV HOST=0.0.0.0 PORT=8321 BLOB_DIR=/data/blobs
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8321
USER node
CMD ["node", "--enable-source-maps", "--import", "tsx", "src/main.ts"]
