// Package guestconf is the guest configuration file format: it finds the
// configurations in the cluster tree (nodes/<node>/qemu-server/<vmid>.conf
// for virtual machines, nodes/<node>/lxc/<vmid>.conf for containers, as
// Proxmox VE lays them out) and parses and writes them, with pending
// changes, snapshots and the cloud-init section, byte for byte as
// Proxmox VE does. What the keys mean is the business of the VM and
// container code.
package guestconf

import (
	"path"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/cfs"
)

// Guest is one configuration file found in the tree.
type Guest struct {
	VMID int
	Kind string // "qemu" or "lxc", the type names of the API
	Node string
	// Entry is the file, with its content.
	Entry cfs.Entry
}

// dirs maps the directories below a node to the guest kinds they hold.
var dirs = []struct{ dir, kind string }{{"qemu-server", "qemu"}, {"lxc", "lxc"}}

// List returns every guest configuration of the cluster, by node in tree
// order. A node without one of the directories simply has no such guests.
func List(store *cfs.Store) ([]Guest, error) {
	nodes, err := store.List("nodes")
	if err != nil {
		return nil, err
	}
	var out []Guest
	for _, n := range nodes {
		if !n.Dir {
			continue
		}
		node := path.Base(n.Path)
		for _, d := range dirs {
			files, err := store.List(n.Path + "/" + d.dir)
			if err != nil {
				continue
			}
			for _, f := range files {
				name, ok := strings.CutSuffix(path.Base(f.Path), ".conf")
				if !ok || f.Dir || schema.CheckFormat("pve-vmid", name) != nil {
					continue
				}
				id, _ := strconv.Atoi(name)
				out = append(out, Guest{VMID: id, Kind: d.kind, Node: node, Entry: f})
			}
		}
	}
	return out, nil
}

// Value reads a key of a configuration's main section; snapshots and
// pending changes follow in [sections] and do not count.
func Value(data []byte, key string) string {
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "[") {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
