// Package nfs3 is a small NFSv3 client (RFC 1813 over ONC RPC on TCP)
// for the namespace operations a userspace NFS storage needs and no
// installed tool offers: creating directories and files exclusively,
// removing, renaming and looking up entries, and the file system's
// space. Image data itself goes through QEMU's nfs:// driver and libnfs
// tools; this package never reads or writes file contents.
package nfs3
