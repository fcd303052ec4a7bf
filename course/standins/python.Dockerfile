# Stand-in for python:3.11-bookworm (the "full" image): adds compilers and headers.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3-dev git curl libpq-dev \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
