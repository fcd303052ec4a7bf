# Stand-in for prom/prometheus: only the two binaries out of Debian's package (the
# package itself drags in ~250 MB of web assets), same paths and defaults as upstream.
ARG BASE
FROM ${BASE} AS fetch
WORKDIR /tmp/pkg
RUN apt-get update \
 && apt-get download prometheus \
 && dpkg -x prometheus_*.deb /tmp/pkg/root
FROM ${BASE}
COPY --from=fetch /tmp/pkg/root/usr/bin/prometheus /tmp/pkg/root/usr/bin/promtool /bin/
COPY prometheus.yml /etc/prometheus/prometheus.yml
RUN mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
