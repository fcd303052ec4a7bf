# Finishes the rootfs imported from mmdebstrap so it looks like debian:*-slim.
ARG ROOTFS
FROM ${ROOTFS}
ENV LANG=C.UTF-8
CMD ["bash"]
