# flowkeeper container: node 20, better-sqlite3 compiled in the build stage.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
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
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY proto ./proto
COPY migrations ./migrations
RUN mkdir /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 4245
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve", "--db", "/data/flowkeeper.db"]
