// Package cifs is the "cifs" storage type of Proxmox VE: an SMB/CIFS
// share mounted under /mnt/pve/<storage> (or the storage's path) and used
// as a directory storage. The password never appears on a command line:
// mount.cifs and smbclient read it from a credentials file that only
// root can read.
package cifs
