package daemon

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cluster"
	"github.com/hearth-virt/hearth/internal/datacenter"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/pki"
)

func ptr[T any](v T) *T { return &v }

// clusterStatus describes the cluster: one cluster row and a row per
// node. A standalone node is a cluster of one (it runs the same
// replicated store with a single voter), so it reports a quorate cluster
// named after itself.
func (d *Daemon) clusterStatus(ctx context.Context, c *api.Call, _ *api.NoParams) ([]api.ClusterStatusItem, error) {
	quorate := 0
	if d.store.Quorate() {
		quorate = 1
	}
	conf, clustered := d.cluster.Conf()
	if !clustered {
		return []api.ClusterStatusItem{
			{Type: "cluster", ID: "cluster", Name: d.cfg.Node, Nodes: ptr(1), Quorate: ptr(quorate), Version: ptr(1)},
			{Type: "node", ID: "node/" + d.cfg.Node, Name: d.cfg.Node, IP: d.nodeIP(), Local: ptr(1), NodeID: ptr(1), Online: ptr(1),
				Fingerprint: d.fingerprint()},
		}, nil
	}
	version := 1
	if e, err := d.store.Get(cluster.ConfPath); err == nil {
		version = int(e.Version)
	}
	out := []api.ClusterStatusItem{{Type: "cluster", ID: "cluster", Name: conf.Name, Nodes: ptr(len(conf.Nodes)), Quorate: ptr(quorate), Version: ptr(version)}}
	for _, n := range conf.Nodes {
		out = append(out, api.ClusterStatusItem{Type: "node", ID: "node/" + n.Name, Name: n.Name, IP: cluster.AddrHost(n.Address),
			Local: ptr(boolInt(n.Name == d.cfg.Node)), NodeID: ptr(n.NodeID), Online: ptr(boolInt(d.cluster.Online(n.Name))),
			Fingerprint: d.nodeFingerprint(n.Name)})
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nodeNames lists the cluster's nodes (just this one when standalone).
func (d *Daemon) nodeNames() []string {
	conf, ok := d.cluster.Conf()
	if !ok {
		return []string{d.cfg.Node}
	}
	out := make([]string, 0, len(conf.Nodes))
	for _, n := range conf.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// nodeUsage is a node's status as far as it is known: this node's own
// figures, or what another node last broadcast.
func (d *Daemon) nodeUsage(node string) (cluster.NodeStatus, bool) {
	if node == d.cfg.Node {
		return d.gossipStatus(), true
	}
	return d.cluster.Status(node)
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
func (d *Daemon) fingerprint() string { return d.id.Fingerprint() }

// nodeFingerprint is the fingerprint of any node's certificate in the tree.
func (d *Daemon) nodeFingerprint(node string) string {
	e, err := d.store.Get(nodeCertPath(node))
	if err != nil {
		return ""
	}
	cert, err := pki.ParseCert(e.Data)
	if err != nil {
		return ""
	}
	return pki.Fingerprint(cert)
}

// usedVMIDs collects the guest ids that have a config anywhere in the
// cluster, with their kind.
func (d *Daemon) usedVMIDs() (map[int]string, error) {
	guests, err := guestconf.List(d.store)
	if err != nil {
		return nil, err
	}
	used := map[int]string{}
	for _, g := range guests {
		used[g.VMID] = g.Kind
	}
	return used, nil
}

// nextID proposes the lowest free guest id in the datacenter's next-id
// range, or checks a given one. The answer is a string, as Proxmox VE
// sends it.
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
	dc, warnings, err := datacenter.Read(d.store)
	if err != nil {
		return "", err
	}
	for _, w := range warnings {
		d.log.Warn("datacenter.cfg: " + w)
	}
	lower, upper := dc.NextIDRange() // upper is exclusive
	for id := lower; id < upper; id++ {
		if _, taken := used[id]; !taken {
			return strconv.Itoa(id), nil
		}
	}
	return "", fmt.Errorf("no free guest id left in the range %d to %d (datacenter option next-id)", lower, upper-1)
}

// resources lists what the caller may see. Nodes are listed to everyone,
// with usage only for callers who may audit them (as Proxmox VE); guests
// and storages join as they land.
func (d *Daemon) resources(ctx context.Context, c *api.Call, in *api.ResourcesParams) ([]api.Resource, error) {
	out := []api.Resource{}
	if in.Type == "" || in.Type == "node" {
		for _, node := range d.nodeNames() {
			r := api.Resource{ID: "node/" + node, Type: "node", Node: node, Status: "offline"}
			if d.cluster.Online(node) {
				r.Status = "online"
			}
			if st, ok := d.nodeUsage(node); ok && r.Status == "online" && c.Perm.Has("/nodes/"+node, "Sys.Audit") {
				r.CPU, r.MaxCPU = st.CPU, float64(st.MaxCPU)
				r.Mem, r.MaxMem, r.Disk, r.MaxDisk = st.Mem, st.MaxMem, st.Disk, st.MaxDisk
				r.Uptime = st.Uptime
				if node == d.cfg.Node {
					r.CGroupMode = ptr(d.host.CGroupMode())
				}
			}
			out = append(out, r)
		}
	}
	if in.Type == "" || in.Type == "vm" {
		out = append(out, d.guestResources(c)...)
	}
	if in.Type == "" || in.Type == "storage" {
		out = append(out, d.storageResources(c)...)
	}
	return out, nil
}

// guestResources lists the guests the caller may audit, from their
// configuration files. Their run state arrives with the guest runtimes
// and the status loop; until then a guest shows as stopped.
func (d *Daemon) guestResources(c *api.Call) []api.Resource {
	guests, _ := guestconf.List(d.store) // a tree without nodes has no guests
	running := map[string]map[int]bool{}
	for _, node := range d.nodeNames() {
		if st, ok := d.nodeUsage(node); ok && (node == d.cfg.Node || d.cluster.Online(node)) {
			running[node] = map[int]bool{}
			for _, id := range st.Running {
				running[node][id] = true
			}
		}
	}
	var out []api.Resource
	for _, g := range guests {
		if !c.Perm.Has("/vms/"+strconv.Itoa(g.VMID), "VM.Audit") {
			continue
		}
		nameKey := "name"
		if g.Kind == "lxc" {
			nameKey = "hostname"
		}
		data := g.Entry.Data
		r := api.Resource{ID: g.Kind + "/" + strconv.Itoa(g.VMID), Type: g.Kind, Node: g.Node, VMID: g.VMID, Status: "stopped",
			Pool: d.access.PoolOf(g.VMID), Name: guestconf.Value(data, nameKey), Tags: guestconf.Value(data, "tags"),
			Lock: guestconf.Value(data, "lock")}
		if guestconf.Value(data, "template") == "1" {
			r.Template = ptr(1)
		}
		if running[g.Node][g.VMID] {
			r.Status = "running"
		}
		out = append(out, r)
	}
	return out
}
