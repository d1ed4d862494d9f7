// Package nfstest starts a real userspace NFS server (nfs-ganesha) for
// tests: NFSv3 and NFSv4 on 127.0.0.1 inside a private network, mount and
// PID namespace, with its own rpcbind, so QEMU's nfs:// driver and the
// libnfs tools, which find the MOUNT service through the portmapper on
// port 111, work without touching the host's network or its rpcbind.
// Commands and connections reach the server through the namespace
// (Server.Runner, Server.Dial).
package nfstest
