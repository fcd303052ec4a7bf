FROM python:3.11.13-slim-bookworm
USER 1001
