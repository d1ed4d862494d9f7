package cluster

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// ConfPath is the cluster's description in the replicated tree: its name
// and its nodes. It plays the part of corosync.conf in Proxmox VE.
const ConfPath = "cluster.conf"

// Conf is the parsed cluster.conf.
type Conf struct {
	Name    string
	Created int64
	Nodes   []NodeConf // sorted by node id
	Witness *WitnessConf
}

// NodeConf describes one node.
type NodeConf struct {
	Name   string
	NodeID int
	// Address is the host:port of the node's API and consensus listener.
	Address string
	// Gossip is the host:port of its membership service.
	Gossip string
}

// WitnessConf describes the witness of a two-node cluster.
type WitnessConf struct {
	Name        string
	Address     string
	Fingerprint string
}

// ParseConf reads cluster.conf; bad entries are dropped with warnings.
func ParseConf(data []byte) (*Conf, []string) {
	secs, warnings := sectioncfg.Parse(data)
	c := &Conf{}
	for _, s := range secs {
		switch s.Type {
		case "cluster":
			c.Name = s.ID
			if v, ok := s.Get("created"); ok {
				c.Created, _ = strconv.ParseInt(v, 10, 64)
			}
		case "node":
			n := NodeConf{Name: s.ID}
			id, _ := s.Get("nodeid")
			n.NodeID, _ = strconv.Atoi(id)
			n.Address, _ = s.Get("address")
			n.Gossip, _ = s.Get("gossip")
			if n.NodeID <= 0 || n.Address == "" {
				warnings = append(warnings, fmt.Sprintf("line %d: node %s lacks a node id or an address; ignored", s.Line, s.ID))
				continue
			}
			c.Nodes = append(c.Nodes, n)
		case "witness":
			w := &WitnessConf{Name: s.ID}
			w.Address, _ = s.Get("address")
			w.Fingerprint, _ = s.Get("fingerprint")
			c.Witness = w
		default:
			warnings = append(warnings, fmt.Sprintf("line %d: unknown section type %q; ignored", s.Line, s.Type))
		}
	}
	c.sort()
	return c, warnings
}

func (c *Conf) sort() {
	slices.SortFunc(c.Nodes, func(a, b NodeConf) int { return a.NodeID - b.NodeID })
}

// Bytes writes cluster.conf.
func (c *Conf) Bytes() []byte {
	c.sort()
	secs := []sectioncfg.Section{{Type: "cluster", ID: c.Name, Props: []sectioncfg.Prop{{Key: "created", Value: strconv.FormatInt(c.Created, 10)}}}}
	for _, n := range c.Nodes {
		s := sectioncfg.Section{Type: "node", ID: n.Name}
		s.Set("nodeid", strconv.Itoa(n.NodeID))
		s.Set("address", n.Address)
		if n.Gossip != "" {
			s.Set("gossip", n.Gossip)
		}
		secs = append(secs, s)
	}
	if w := c.Witness; w != nil {
		s := sectioncfg.Section{Type: "witness", ID: w.Name}
		s.Set("address", w.Address)
		s.Set("fingerprint", w.Fingerprint)
		secs = append(secs, s)
	}
	return sectioncfg.Print(secs)
}

// Node finds a node by name.
func (c *Conf) Node(name string) (NodeConf, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeConf{}, false
}

// SetNode adds or replaces a node.
func (c *Conf) SetNode(n NodeConf) {
	c.RemoveNode(n.Name)
	c.Nodes = append(c.Nodes, n)
	c.sort()
}

// RemoveNode drops a node.
func (c *Conf) RemoveNode(name string) {
	c.Nodes = slices.DeleteFunc(c.Nodes, func(n NodeConf) bool { return n.Name == name })
}

// NextNodeID is the lowest unused node id.
func (c *Conf) NextNodeID() int {
	for id := 1; ; id++ {
		used := false
		for _, n := range c.Nodes {
			used = used || n.NodeID == id
		}
		if !used {
			return id
		}
	}
}
