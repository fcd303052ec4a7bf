#!/bin/sh
# Start the sandbox's private Docker daemon. Docker mounts the cgroup v1 controllers
# read-only in a non-privileged container; the inner daemon must create its own cgroups
# below ours, so remount them writable (we hold CAP_SYS_ADMIN in our own mount namespace).
for controller in /sys/fs/cgroup/*/; do
    mount -o remount,bind,rw "$controller" 2>/dev/null || true
done
exec dockerd --host "unix://${TEMA15_SOCKET_DIR:-/run/tema15}/docker.sock" \
    --data-root /var/lib/docker --storage-driver overlay2 "$@"
