package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/pki"
)

func ptr[T any](v T) *T { return &v }

// clusterStatus describes the cluster. A standalone node is a cluster of
// one (it runs the same replicated store with a single voter), so it
// reports a quorate cluster row and its own node row.
func (d *Daemon) clusterStatus(ctx context.Context, c *api.Call, _ *api.NoParams) ([]api.ClusterStatusItem, error) {
	quorate := 0
	if d.store.Quorate() {
		quorate = 1
	}
	return []api.ClusterStatusItem{
		{Type: "cluster", ID: "cluster", Name: d.cfg.Node, Nodes: ptr(1), Quorate: ptr(quorate), Version: ptr(1)},
		{Type: "node", ID: "node/" + d.cfg.Node, Name: d.cfg.Node, IP: d.nodeIP(), Local: ptr(1), NodeID: ptr(1), Online: ptr(1)},
	}, nil
}

// nodeIP is the address other hosts reach this node at: the listen
// address when it is specific, else the first global unicast address.
func (d *Daemon) nodeIP() string {
	if h, _, err := net.SplitHostPort(d.cfg.Listen); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			return ip.String()
		}
	}
	for _, n := range hostNames() {
		if ip := net.ParseIP(n); ip != nil && ip.To4() != nil {
			return n
		}
	}
	return "127.0.0.1"
}

// fingerprint is the SHA-256 fingerprint of this node's certificate.
func (d *Daemon) fingerprint() string {
	if len(d.tlsConf.Certificates) == 0 {
		return ""
	}
	cert, err := x509.ParseCertificate(d.tlsConf.Certificates[0].Certificate[0])
	if err != nil {
		return ""
	}
	return pki.Fingerprint(cert)
}

// usedVMIDs collects the guest ids that have a config anywhere in the
// cluster.
func (d *Daemon) usedVMIDs() (map[int]string, error) {
	used := map[int]string{}
	nodes, err := d.store.List("nodes")
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		for _, kind := range []string{"qemu-server", "lxc"} {
			files, err := d.store.List(n.Path + "/" + kind)
			if err != nil {
				continue // a node without that directory has no such guests
			}
			for _, f := range files {
				name := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
				if id, err := strconv.Atoi(strings.TrimSuffix(name, ".conf")); err == nil && strings.HasSuffix(name, ".conf") {
					used[id] = kind
				}
			}
		}
	}
	return used, nil
}

// nextID proposes the lowest free guest id, or checks a given one. The
// answer is a string, as Proxmox VE sends it.
func (d *Daemon) nextID(ctx context.Context, c *api.Call, in *api.NextIDParams) (string, error) {
	used, err := d.usedVMIDs()
	if err != nil {
		return "", err
	}
	if in.VMID != nil {
		if _, taken := used[int(*in.VMID)]; taken {
			return "", api.ParamError("vmid", "VM %d already exists", *in.VMID)
		}
		return strconv.FormatInt(*in.VMID, 10), nil
	}
	for id := schema.VMIDMin; id <= schema.VMIDMax; id++ {
		if _, taken := used[id]; !taken {
			return strconv.Itoa(id), nil
		}
	}
	return "", fmt.Errorf("no free guest id left")
}

// resources lists what the caller may see. Nodes are listed to everyone,
// with usage only for callers who may audit them (as Proxmox VE); guests
// and storages join as they land.
func (d *Daemon) resources(ctx context.Context, c *api.Call, in *api.ResourcesParams) ([]api.Resource, error) {
	out := []api.Resource{}
	if in.Type == "" || in.Type == "node" {
		r := api.Resource{ID: "node/" + d.cfg.Node, Type: "node", Node: d.cfg.Node, Status: "online"}
		if c.Perm.Has("/nodes/"+d.cfg.Node, "Sys.Audit") {
			st, err := d.status.get(d)
			if err != nil {
				return nil, err
			}
			r.CPU, r.MaxCPU = st.CPU, float64(st.CPUInfo.CPUs)
			r.Mem, r.MaxMem = st.Memory.Used, st.Memory.Total
			r.Disk, r.MaxDisk = st.RootFS.Used, st.RootFS.Total
			r.Uptime = st.Uptime
			r.CGroupMode = ptr(d.host.CGroupMode())
		}
		out = append(out, r)
	}
	return out, nil
}
