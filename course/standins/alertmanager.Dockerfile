# Stand-in for prom/alertmanager: only the two binaries out of Debian's package, same
# paths, user, port and defaults as upstream (alertmanager and amtool in /bin, config in
# /etc/alertmanager, data in /alertmanager). Debian 12 ships Alertmanager 0.25: its API v2
# and configuration format are the ones the course uses. Debian's sample config is replaced by a
# minimal one like upstream's, without its placeholder credentials.
ARG BASE
FROM ${BASE} AS fetch
WORKDIR /tmp/pkg
RUN apt-get update \
 && apt-get download prometheus-alertmanager \
 && dpkg -x prometheus-alertmanager_*.deb /tmp/pkg/root
FROM ${BASE}
COPY --from=fetch /tmp/pkg/root/usr/bin/prometheus-alertmanager /bin/alertmanager
COPY --from=fetch /tmp/pkg/root/usr/bin/amtool /bin/amtool
# Notification templates (default.tmpl) and the placeholder web page: the binary looks
# for them under /usr/share/prometheus/alertmanager.
COPY --from=fetch /tmp/pkg/root/usr/share/prometheus /usr/share/prometheus
RUN mkdir -p /etc/alertmanager /alertmanager \
 && printf '%s\n' \
      'route:' \
      '  group_by: [alertname]' \
      '  group_wait: 30s' \
      '  group_interval: 5m' \
      '  repeat_interval: 1h' \
      '  receiver: web.hook' \
      'receivers:' \
      '  - name: web.hook' \
      '    webhook_configs:' \
      "      - url: 'http://127.0.0.1:5001/'" \
      > /etc/alertmanager/alertmanager.yml \
 && chown nobody:nogroup /alertmanager
USER nobody
WORKDIR /alertmanager
VOLUME /alertmanager
EXPOSE 9093
ENTRYPOINT ["/bin/alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
