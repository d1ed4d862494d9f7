// Package dir is the "dir" storage type, a local directory laid out as
// Proxmox VE lays it out (images/<vmid>/, template/iso/, template/cache/,
// dump/, snippets/, import/), and the file-storage core that the network
// file system types (nfs, cifs, cephfs, glusterfs) and btrfs build on:
// Store keeps disk images as raw, qcow2 or vmdk files and container
// volumes as directories, takes qcow2 snapshots and linked clones with
// qemu-img, streams volumes out and in, and lists, annotates and protects
// the other content kept as files.
package dir
