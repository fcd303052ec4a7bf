# Stand-in for python:3.11-slim-bookworm: Debian's Python 3.11 made to look like the official
# image's /usr/local interpreter. A venv AT /usr/local gives the official layout: `python`,
# `python3` and `pip` in /usr/local/bin, `pip install` into /usr/local/lib/python3.11/
# site-packages, and `pip install --prefix=/install` into /install/lib/python3.11/site-packages,
# so `COPY --from=… /install /usr/local` works as on the official image (Debian's own scheme
# would put it under /install/local/… and the copy would be invisible). System site packages
# stay visible so `pip install --user` (~/.local) works too.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv --system-site-packages /usr/local \
 && rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED
CMD ["python3"]
