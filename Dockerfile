# The stackcheck image: the CLI, the pytest suites and the manifests, for `stackcheck serve` (the smoke
# exporter in manifests/smoke/), the probe and the sink (`stackcheck probe …`, `stackcheck sink …`).
#
#   docker build -t stackcheck:dev .                  # what the kind workflow loads with `kind load`
#   docker run --rm --read-only --tmpfs /tmp stackcheck:dev verify --target urls --prometheus-url …
#
# Runs as a non-root user (uid/gid 10001) with a read-only root filesystem: HOME, TMPDIR and every cache
# point at /tmp (an emptyDir in the pods), and no .pyc is written at run time (pip compiled them at build).
# promtool and amtool are not in the image: `stackcheck lint` belongs in CI, not in the cluster.

FROM docker.io/library/python:3.12.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY stackcheck ./stackcheck
# Installs the package and its dependencies (pyproject.toml), aiosmtpd for the sink included.
RUN /opt/venv/bin/pip install --no-cache-dir /src

FROM docker.io/library/python:3.12.11-slim-bookworm
LABEL org.opencontainers.image.title="stackcheck" \
      org.opencontainers.image.description="Deploy an observability stack and prove that it works" \
      org.opencontainers.image.source="https://github.com/stackcheck/stackcheck" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 stackcheck \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin stackcheck
COPY --from=build /opt/venv /opt/venv
COPY suites /opt/stackcheck/suites
COPY manifests /opt/stackcheck/manifests
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STACKCHECK_SUITES=/opt/stackcheck/suites \
    STACKCHECK_MANIFESTS=/opt/stackcheck/manifests
USER 10001:10001
WORKDIR /tmp
EXPOSE 9464
ENTRYPOINT ["stackcheck"]
CMD ["--help"]
