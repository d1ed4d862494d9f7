package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/pki"
)

// JoinAPIVersion is the version of the join protocol this node speaks.
const JoinAPIVersion = 1

// Paths of the certificates in the tree (as Proxmox VE names them).
const (
	CACertPath = "pve-root-ca.pem"
	CAKeyPath  = "priv/pve-root-ca.key"
)

// NodeCertPath and NodeKeyPath locate a node's certificate in the tree.
func NodeCertPath(node string) string { return "nodes/" + node + "/pve-ssl.pem" }
func NodeKeyPath(node string) string  { return "nodes/" + node + "/pve-ssl.key" }

// Routes binds the cluster configuration endpoints.
func (c *Cluster) Routes() []api.Route {
	return []api.Route{
		api.ClusterCreate.Handle(c.create),
		api.ClusterNodes.Handle(c.nodes),
		api.ClusterAddNode.Handle(c.addNode),
		api.ClusterDelNode.Handle(c.delNode),
		api.ClusterJoinInfo.Handle(c.joinInfo),
		api.ClusterJoin.Handle(c.join),
		api.ClusterAPIVersion.Handle(func(context.Context, *api.Call, *api.NoParams) (int, error) { return JoinAPIVersion, nil }),
		api.ClusterTotem.Handle(c.totem),
		api.ClusterExpected.Handle(c.expected),
		api.NodeCertificatesInfo.Handle(c.certInfo),
	}
}

func (c *Cluster) create(ctx context.Context, call *api.Call, in *api.ClusterCreateParams) (api.Task, error) {
	if _, ok := c.Conf(); ok {
		return api.Task{}, api.Errorf(http.StatusInternalServerError, "this node is already part of a cluster")
	}
	nodeID := 1
	if in.NodeID != nil {
		nodeID = int(*in.NodeID)
	}
	return api.Task{Type: "clustercreate", ID: in.ClusterName, Run: func(ctx context.Context, log api.TaskLog) error {
		log.Printf("creating cluster %s with node %s (node id %d)", in.ClusterName, c.cfg.Node, nodeID)
		if err := c.createCluster(ctx, in.ClusterName, nodeID); err != nil {
			return err
		}
		log.Printf("cluster %s created; other nodes join with: pvecm add %s --fingerprint %s", in.ClusterName, c.cfg.Raft.Advertise(), c.cfg.Identity.Fingerprint())
		return nil
	}}, nil
}

func (c *Cluster) nodes(ctx context.Context, call *api.Call, _ *api.NoParams) ([]api.ClusterNode, error) {
	conf, ok := c.Conf()
	if !ok {
		return []api.ClusterNode{}, nil
	}
	voter := map[string]bool{}
	if servers, err := c.cfg.Store.Servers(); err == nil {
		for _, s := range servers {
			voter[s.ID] = s.Voter
		}
	}
	leader, _ := c.cfg.Store.Leader()
	out := make([]api.ClusterNode, 0, len(conf.Nodes))
	for _, n := range conf.Nodes {
		votes, leads := 0, 0
		if voter[n.Name] {
			votes = 1
		}
		if leader.ID == n.Name {
			leads = 1
		}
		out = append(out, api.ClusterNode{Node: n.Name, Name: n.Name, NodeID: n.NodeID, QuorumVotes: votes,
			Ring0Addr: AddrHost(n.Address), Address: n.Address, Gossip: n.Gossip, Voter: votes, Leader: leads})
	}
	return out, nil
}

// addNode admits a new node: it issues the node's certificate, records the
// node, and adds it to the consensus as a non-voter (the leader promotes
// it once it has caught up).
func (c *Cluster) addNode(ctx context.Context, call *api.Call, in *api.AddNodeParams) (api.AddNodeResult, error) {
	conf, ok := c.Conf()
	if !ok {
		return api.AddNodeResult{}, fmt.Errorf("node %s is not part of a cluster; create one there first with 'pvecm create <name>'", c.cfg.Node)
	}
	if in.APIAddress == "" {
		return api.AddNodeResult{}, api.ParamError("api-address", "required: the new node's API address (host:port)")
	}
	if in.APIVersion != nil && *in.APIVersion > JoinAPIVersion {
		return api.AddNodeResult{}, fmt.Errorf("the joining node speaks join protocol %d; this node only knows up to %d", *in.APIVersion, JoinAPIVersion)
	}
	var warnings []string
	if old, exists := conf.Node(in.Node); exists {
		if !in.Force {
			return api.AddNodeResult{}, fmt.Errorf("a node named %s is already in the cluster (id %d); use force to replace it", in.Node, old.NodeID)
		}
		if err := c.cfg.Store.RemoveServer(ctx, in.Node); err != nil {
			return api.AddNodeResult{}, fmt.Errorf("removing the old node %s: %w", in.Node, err)
		}
		warnings = append(warnings, "replaced the old node "+in.Node)
	}
	nodeID := conf.NextNodeID()
	if in.NodeID != nil {
		nodeID = int(*in.NodeID)
		for _, n := range conf.Nodes {
			if n.NodeID == nodeID && n.Name != in.Node {
				return api.AddNodeResult{}, api.ParamError("nodeid", "node id %d is used by %s", nodeID, n.Name)
			}
		}
	}
	caCert, err1 := c.cfg.Store.Get(CACertPath)
	caKey, err2 := c.cfg.Store.Get(CAKeyPath)
	if err := errors.Join(err1, err2); err != nil {
		return api.AddNodeResult{}, fmt.Errorf("reading the cluster CA: %w", err)
	}
	ca, err := pki.LoadCA(caCert.Data, caKey.Data)
	if err != nil {
		return api.AddNodeResult{}, err
	}
	extra := []string{AddrHost(in.APIAddress)}
	if in.NewNodeIP != "" {
		extra = append(extra, in.NewNodeIP)
	}
	certPEM, keyPEM, err := ca.NodeCert(in.Node, extra, time.Now())
	if err != nil {
		return api.AddNodeResult{}, err
	}
	dir := "nodes/" + in.Node
	var ops []cfs.Op
	for _, d := range []string{dir, dir + "/qemu-server", dir + "/lxc"} {
		if _, err := c.cfg.Store.Get(d); errors.Is(err, cfs.ErrNotFound) {
			ops = append(ops, cfs.Mkdir(d))
		}
	}
	ops = append(ops, cfs.Write(NodeCertPath(in.Node), certPEM), cfs.Write(NodeKeyPath(in.Node), keyPEM))
	err = c.updateConf(ctx, func(conf *Conf) error {
		conf.SetNode(NodeConf{Name: in.Node, NodeID: nodeID, Address: in.APIAddress, Gossip: in.GossipAddress})
		return nil
	}, ops...)
	if err != nil {
		return api.AddNodeResult{}, err
	}
	if err := c.cfg.Store.AddNonvoter(ctx, in.Node, in.APIAddress); err != nil {
		return api.AddNodeResult{}, fmt.Errorf("adding %s to the consensus: %w", in.Node, err)
	}
	c.log.Info("admitted a node to the cluster", "node", in.Node, "address", in.APIAddress, "by", call.User)
	conf, _ = c.Conf()
	peers, _ := c.nodes(ctx, call, nil)
	if warnings == nil {
		warnings = []string{}
	}
	return api.AddNodeResult{ClusterName: conf.Name, NodeID: nodeID, CA: string(caCert.Data), Cert: string(certPEM), Key: string(keyPEM),
		Peers: peers, Warnings: warnings}, nil
}

func (c *Cluster) delNode(ctx context.Context, call *api.Call, in *api.NodeParam) (any, error) {
	if in.Node == c.cfg.Node {
		return nil, errors.New("a node cannot remove itself; run this on another node of the cluster")
	}
	conf, ok := c.Conf()
	if !ok {
		return nil, errors.New("this node is not part of a cluster")
	}
	if _, ok := conf.Node(in.Node); !ok {
		return nil, fmt.Errorf("node %s is not in the cluster", in.Node)
	}
	if c.Online(in.Node) {
		return nil, fmt.Errorf("node %s is still online; shut it down before removing it", in.Node)
	}
	if err := c.cfg.Store.RemoveServer(ctx, in.Node); err != nil {
		return nil, fmt.Errorf("removing %s from the consensus: %w", in.Node, err)
	}
	if err := c.updateConf(ctx, func(conf *Conf) error { conf.RemoveNode(in.Node); return nil }); err != nil {
		return nil, err
	}
	c.log.Warn("removed a node from the cluster", "node", in.Node, "by", call.User)
	return nil, nil
}

func (c *Cluster) joinInfo(ctx context.Context, call *api.Call, in *api.JoinInfoParams) (api.JoinInfo, error) {
	conf, ok := c.Conf()
	if !ok {
		return api.JoinInfo{}, errors.New("this node is not part of a cluster")
	}
	e, _ := c.cfg.Store.Get(ConfPath)
	preferred := in.Node
	if preferred == "" {
		preferred = c.cfg.Node
	}
	info := api.JoinInfo{ConfigDigest: cfs.Digest(e.Data), PreferredNode: preferred, Totem: c.totemMap(conf)}
	for _, n := range conf.Nodes {
		fp := ""
		if ce, err := c.cfg.Store.Get(NodeCertPath(n.Name)); err == nil {
			if cert, err := pki.ParseCert(ce.Data); err == nil {
				fp = pki.Fingerprint(cert)
			}
		}
		info.NodeList = append(info.NodeList, api.JoinNode{Name: n.Name, NodeID: n.NodeID, PVEAddr: n.Address, PVEFP: fp,
			QuorumVotes: 1, Ring0Addr: AddrHost(n.Address)})
	}
	return info, nil
}

func (c *Cluster) totemMap(conf *Conf) map[string]any {
	return map[string]any{"cluster_name": conf.Name, "config_version": conf.Created, "transport": "raft", "membership": "gossip"}
}

func (c *Cluster) totem(ctx context.Context, call *api.Call, _ *api.NoParams) (map[string]any, error) {
	conf, ok := c.Conf()
	if !ok {
		return map[string]any{}, nil
	}
	return c.totemMap(conf), nil
}

// expected forces the nodes alive now to be the only voters.
func (c *Cluster) expected(ctx context.Context, call *api.Call, in *api.ExpectedParams) (any, error) {
	servers, err := c.cfg.Store.Servers()
	if err != nil {
		return nil, err
	}
	var alive []string
	for _, s := range servers {
		if c.Online(s.ID) {
			alive = append(alive, s.ID)
		}
	}
	slices.Sort(alive)
	if len(alive) != in.Expected {
		return nil, api.ParamError("expected", "%d nodes are alive (%s); give that number", len(alive), strings.Join(alive, ", "))
	}
	if c.cfg.Store.Quorate() {
		return nil, errors.New("the cluster is quorate; there is nothing to force")
	}
	c.log.Error("FORCING A NEW VOTER SET: writes only the lost nodes had may be gone", "voters", alive, "by", call.User)
	return nil, c.cfg.Store.Recover(ctx, alive)
}

func (c *Cluster) certInfo(ctx context.Context, call *api.Call, in *api.NodeParam) ([]api.CertInfo, error) {
	var out []api.CertInfo
	for _, f := range []struct{ path, name string }{{CACertPath, "pve-root-ca.pem"}, {NodeCertPath(in.Node), "pve-ssl.pem"}} {
		e, err := c.cfg.Store.Get(f.path)
		if err != nil {
			continue
		}
		cert, err := pki.ParseCert(e.Data)
		if err != nil {
			continue
		}
		info := api.CertInfo{Filename: f.name, Fingerprint: pki.Fingerprint(cert), Issuer: cert.Issuer.String(), Subject: cert.Subject.String(),
			NotBefore: cert.NotBefore.Unix(), NotAfter: cert.NotAfter.Unix(), PEM: string(e.Data), SAN: append([]string{}, cert.DNSNames...)}
		for _, ip := range cert.IPAddresses {
			info.SAN = append(info.SAN, ip.String())
		}
		switch k := cert.PublicKey.(type) {
		case *ecdsa.PublicKey:
			info.PublicKeyType, info.PublicKeyBits = "id-ecPublicKey", k.Curve.Params().BitSize
		case *rsa.PublicKey:
			info.PublicKeyType, info.PublicKeyBits = "rsaEncryption", k.N.BitLen()
		case ed25519.PublicKey:
			info.PublicKeyType, info.PublicKeyBits = "ED25519", 256
		}
		out = append(out, info)
	}
	return out, nil
}
