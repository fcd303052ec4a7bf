# Stand-in for python:3.11-slim-bookworm: Debian's Python 3.11 with pip and venv,
# `python` and `pip` on PATH and pip allowed to install system-wide, as in the official image.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 && ln -s /usr/bin/pip3 /usr/local/bin/pip \
 && rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED
CMD ["python3"]
