# mlops in a container: stage 1 compiles the single executable, stage 2 is python3 + the notebook
# environment + that executable. The same steps run outside Docker as scripts/build.ts and
# scripts/setup-python.sh (tested by the suite), since no Docker engine runs on our build machines.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml ./
# onnxruntime-node's postinstall downloads GPU binaries we do not use; the CPU ones ship in the package.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY views ./views
COPY public ./public
COPY scripts ./scripts
# `serve --examples` embeds the example notebooks.
COPY notebooks ./notebooks
RUN node_modules/.bin/bun run scripts/build.ts

FROM debian:bookworm-slim
# bubblewrap sandboxes pushed notebooks (setpriv and prlimit come with util-linux, which every Debian image has).
# As a non-root user it needs user namespaces, which Docker's default seccomp profile refuses: run the container
# with --security-opt seccomp=unconfined (or a profile that allows unshare), else /health says "sandbox": "unavailable".
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv git ca-certificates curl bubblewrap \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 mlops
WORKDIR /opt/mlops
COPY notebooks/requirements.txt notebooks/requirements.txt
COPY scripts/setup-python.sh scripts/venv.sh scripts/
RUN bash scripts/setup-python.sh
COPY notebooks ./notebooks
COPY --from=build /src/dist/mlops /usr/local/bin/mlops
RUN mkdir /data && chown mlops:mlops /data
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000 \
    PYTHON=/opt/mlops/.venv/bin/python \
    PAPERMILL=/opt/mlops/.venv/bin/papermill \
    UV=/opt/mlops/.venv/bin/uv
USER mlops
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/health >/dev/null || exit 1
ENTRYPOINT ["mlops"]
CMD ["serve"]
