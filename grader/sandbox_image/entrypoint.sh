#!/bin/sh
# Start the sandbox's private Docker daemon. Docker mounts the cgroup v1 controllers
# read-only in a non-privileged container; the inner daemon must create its own cgroups
# below ours, so remount them writable (we hold CAP_SYS_ADMIN in our own mount namespace).
for controller in /sys/fs/cgroup/*/; do
    mount -o remount,bind,rw "$controller" 2>/dev/null || true
done
if [ -n "${TEMA15_DISK:-}" ]; then
    # The daemon's data on an ext4 file of fixed size (the disk limit). No journal and lazy
    # inode tables: a disposable filesystem that only takes host blocks as it is written.
    # TEMA15_DISK_FORMAT=0: a copy of a seeded disk, already formatted and filled.
    if [ "${TEMA15_DISK_FORMAT:-1}" = 1 ] && \
       ! mkfs.ext4 -q -F -m 0 -O ^has_journal -E lazy_itable_init=1,nodiscard "$TEMA15_DISK"; then
        echo "tema15: no se pudo crear el sistema de ficheros del disco aislado" >&2
        exit 1
    fi
    # Loop devices are global, but their nodes are not in the container's /dev.
    [ -e /dev/loop-control ] || mknod /dev/loop-control c 10 237
    i=0
    while [ "$i" -lt 256 ]; do
        [ -e "/dev/loop$i" ] || mknod "/dev/loop$i" b 7 "$i"
        i=$((i + 1))
    done
    # `mount -o loop` sets auto-clear: the loop device goes when this mount namespace
    # does. Retried: another sandbox may take the same free device at the same moment.
    tries=0
    until mount -o loop,noinit_itable "$TEMA15_DISK" /var/lib/docker; do
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            echo "tema15: no se pudo montar el disco aislado (¿faltan dispositivos loop en el anfitrión?)" >&2
            exit 1
        fi
        sleep 0.5
    done
    # The loop device keeps the file open: drop its path, so that nothing in the sandbox
    # can grow the file past the limit (its host copy is removed with the sandbox).
    umount -l "$TEMA15_DISK" 2>/dev/null || true
fi
exec dockerd --host "unix://${TEMA15_SOCKET_DIR:-/run/tema15}/docker.sock" \
    --data-root /var/lib/docker --storage-driver overlay2 "$@"
