# rsyslog (imfile -> omkafka) shipping /var/log/exim4/*log into Kafka as
# Filebeat-style JSON envelopes, with scripts/stack.d/rsyslog-omkafka.conf.in,
# the config scripts/demo and the integration tests use.
# (Not built in this project's CI: no Docker engine there.)
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends rsyslog rsyslog-kafka \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/stack.d/rsyslog-omkafka.conf.in /etc/eximship/rsyslog-omkafka.conf.in
RUN mkdir -p /var/spool/rsyslog-eximship && sed \
      -e 's|@WORKDIR@|/var/spool/rsyslog-eximship|' -e 's|@FILE@|/var/log/exim4/*log|' \
      -e 's|@BROKERS@|kafka:19092|' -e 's|@TOPIC@|exim-logs|' -e 's|@TEMPLATE@|eximship_envelope|' \
      /etc/eximship/rsyslog-omkafka.conf.in >/etc/eximship/rsyslog.conf \
    && rsyslogd -N1 -f /etc/eximship/rsyslog.conf
CMD ["rsyslogd", "-n", "-f", "/etc/eximship/rsyslog.conf", "-i", "/run/rsyslogd.pid"]
