# Stand-in for redis:7-bookworm: redis-server on 6379, data in /data, no protected mode.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
VOLUME /data
EXPOSE 6379
USER redis
CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0", "--dir", "/data"]
