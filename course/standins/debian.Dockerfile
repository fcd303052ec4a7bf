# Finishes the rootfs imported from mmdebstrap (minbase, merged /usr without usrmerge and
# perl) so it looks like debian:*-slim, whose apt configuration keeps no downloaded .deb and
# no package cache in the image, and downloads no translations.
ARG ROOTFS
FROM ${ROOTFS}
RUN printf '%s\n' \
      'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
      'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' > /etc/apt/apt.conf.d/docker-clean \
 && echo 'Acquire::Languages "none";' > /etc/apt/apt.conf.d/docker-no-languages
ENV LANG=C.UTF-8
CMD ["bash"]
