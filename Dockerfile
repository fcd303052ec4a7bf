# Overridable so tests and CI can build on a locally built base image.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# Dependencies go into a venv so the final stage can copy them as one directory.
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# pip/setuptools/wheel are only needed to install; dropping them saves ~12 MB.
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
 && rm -f /opt/venv/bin/pip /opt/venv/bin/pip3*

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# Fixed IDs so volumes and Kubernetes securityContext can rely on them.
RUN groupadd --system --gid 1001 app \
 && useradd --system --uid 1001 --gid app --no-log-init \
      --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /srv/service
# Root-owned code: the app user can read it but not modify it.
COPY VERSION ./
COPY app ./app

ARG VERSION=1.0.0
ARG VCS_REF=desconocido
ARG SOURCE_URL=desconocido
LABEL org.opencontainers.image.title="catalogo" \
      org.opencontainers.image.description="Microservicio de catálogo del curso (FastAPI)" \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$VCS_REF \
      org.opencontainers.image.source=$SOURCE_URL \
      org.opencontainers.image.licenses="MIT"

EXPOSE 8000
# Numeric so Kubernetes runAsNonRoot can verify it without /etc/passwd.
USER 1001:1001
# Liveness only: readiness depends on other services and belongs to the orchestrator.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python","-c","import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status == 200 else 1)"]
# Exec form: uvicorn is PID 1 and receives SIGTERM directly.
CMD ["uvicorn","app.main:app","--host","0.0.0.0","--port","8000"]
