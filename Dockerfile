# flowkeeper container: node 20, better-sqlite3 compiled in the build stage.
# Beyond loopback the API needs FLOWKEEPER_API_TOKEN (or FLOWKEEPER_ALLOW_UNAUTHENTICATED=true).
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# npm 11 honours package.json "allowScripts": only better-sqlite3's install script runs.
RUN npm install -g npm@11
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY proto ./proto
COPY migrations ./migrations
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# glibc malloc: two arenas and large blocks always mmapped (returned to the kernel when freed), so
# page buffers built in query threads do not leave RSS at its high-water mark (README, Memory).
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY proto ./proto
COPY migrations ./migrations
RUN mkdir /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 4244
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve", "--db", "/data/flowkeeper.db", "--listen", "0.0.0.0:8080", "--observer-listen", "0.0.0.0:4244"]
