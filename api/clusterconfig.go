package api

import (
	"fmt"

	"github.com/hearth-virt/hearth/api/schema"
)

// linkFormat is a cluster network link: an address and a priority.
func linkFormat() *schema.PropString {
	return schema.NewPropString(schema.Props{
		"address":  schema.Schema{Type: schema.String, Format: "address", DefaultKey: true, FormatDescription: "IP", Description: "Address of this node on the link."}.Ptr(),
		"priority": schema.IntRange("Preference among links; higher is used first.", 0, 255).Def(int64(0)).Ptr(),
	})
}

// linkParams adds link0 … link7 to props, as Proxmox VE declares them.
func linkParams(props schema.Props) schema.Props {
	for i := 0; i < 8; i++ {
		props[fmt.Sprintf("link%d", i)] = &schema.Schema{Type: schema.String, Prop: linkFormat(), Optional: true,
			Description: "Address of this node on cluster link " + fmt.Sprint(i) + "."}
	}
	return props
}

// clusterAdmin is the rule of calls that change who is in the cluster.
// Proxmox VE limits them to root@pam; a user holding Sys.Modify and
// Permissions.Modify on / (the Administrator role) can already do
// everything else, so Hearth lets such a user do this too.
func clusterAdmin() Permission {
	return Or(RootOnly(), Perm("/", "Sys.Modify", "Permissions.Modify"))
}

// hostPort is "host:port" with a port.
func hostPort(desc string) schema.Schema {
	return schema.Pat(desc, `[^\s/]+:[0-9]{1,5}`)
}

// ClusterCreateParams is the input of POST /cluster/config.
type ClusterCreateParams struct {
	ClusterName string         `json:"clustername"`
	NodeID      *int64         `json:"nodeid"`
	Votes       *int64         `json:"votes"`
	TokenCoeff  *int64         `json:"token-coefficient"`
	Links       map[string]any `param:"rest"`
}

// ClusterNode is one row of GET /cluster/config/nodes.
type ClusterNode struct {
	Node        string `json:"node"`
	Name        string `json:"name"`
	NodeID      int    `json:"nodeid"`
	QuorumVotes int    `json:"quorum_votes"`
	Ring0Addr   string `json:"ring0_addr,omitempty"`
	// Address is where the node's API and raft listen (host:port).
	Address string `json:"address"`
	// Gossip is where the node's membership service listens.
	Gossip string `json:"gossip,omitempty"`
	// Voter says whether the node votes in the cluster's consensus.
	Voter int `json:"voter"`
	// Leader marks the node that currently leads the consensus.
	Leader int `json:"leader,omitempty"`
}

// AddNodeParams is the input of POST /cluster/config/nodes/{node}, which a
// joining node calls on a member of the cluster.
type AddNodeParams struct {
	Node          string         `json:"node"`
	NewNodeIP     string         `json:"new_node_ip"`
	NodeID        *int64         `json:"nodeid"`
	Votes         *int64         `json:"votes"`
	Force         bool           `json:"force"`
	APIVersion    *int64         `json:"apiversion"`
	APIAddress    string         `json:"api-address"`
	GossipAddress string         `json:"gossip-address"`
	Links         map[string]any `param:"rest"`
}

// AddNodeResult is what a joining node needs to become a member.
type AddNodeResult struct {
	ClusterName string `json:"clustername"`
	NodeID      int    `json:"nodeid"`
	// CA is the cluster's certificate authority; Cert and Key are the new
	// node's certificate issued by it.
	CA       string        `json:"ca"`
	Cert     string        `json:"cert"`
	Key      string        `json:"key"`
	Peers    []ClusterNode `json:"peers"`
	Warnings []string      `json:"warnings"`
}

// JoinParams is the input of POST /cluster/config/join, run on the node
// that joins.
type JoinParams struct {
	Hostname    string         `json:"hostname"`
	Fingerprint string         `json:"fingerprint"`
	Password    string         `json:"password"`
	User        string         `json:"user"`
	NodeID      *int64         `json:"nodeid"`
	Votes       *int64         `json:"votes"`
	Force       bool           `json:"force"`
	Links       map[string]any `param:"rest"`
}

// JoinInfo is the answer of GET /cluster/config/join.
type JoinInfo struct {
	ConfigDigest  string         `json:"config_digest"`
	PreferredNode string         `json:"preferred_node"`
	Totem         map[string]any `json:"totem"`
	NodeList      []JoinNode     `json:"nodelist"`
}

// JoinNode is a node in the join information.
type JoinNode struct {
	Name        string `json:"name"`
	NodeID      int    `json:"nodeid"`
	PVEAddr     string `json:"pve_addr"`
	PVEFP       string `json:"pve_fp"`
	QuorumVotes int    `json:"quorum_votes"`
	Ring0Addr   string `json:"ring0_addr,omitempty"`
}

// ExpectedParams is the input of POST /cluster/config/expected.
type ExpectedParams struct {
	Expected int `json:"expected"`
}

// QDeviceParams is the input of POST /cluster/config/qdevice.
type QDeviceParams struct {
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
	Token       string `json:"token"`
}

// CertInfo describes one certificate of a node.
type CertInfo struct {
	Filename      string   `json:"filename"`
	Fingerprint   string   `json:"fingerprint"`
	Issuer        string   `json:"issuer"`
	Subject       string   `json:"subject"`
	NotBefore     int64    `json:"notbefore"`
	NotAfter      int64    `json:"notafter"`
	PEM           string   `json:"pem"`
	PublicKeyType string   `json:"public-key-type"`
	PublicKeyBits int      `json:"public-key-bits"`
	SAN           []string `json:"san"`
}

func fingerprintSchema(desc string) schema.Schema {
	return schema.Pat(desc, `([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}`)
}

func clusterNodeReturns() schema.Schema {
	return schema.ArrayOf("", schema.Obj("", schema.Props{
		"node":         schema.Node().Ptr(),
		"name":         schema.Node().Ptr(),
		"nodeid":       schema.Int("Numeric id of the node in the cluster.").Ptr(),
		"quorum_votes": schema.Int("Votes the node holds (1 for voters, 0 otherwise).").Ptr(),
		"ring0_addr":   schema.Str("The node's address on the first link.").Opt(),
		"address":      schema.Str("Where the node's API and consensus traffic are served (host:port).").Ptr(),
		"gossip":       schema.Str("Where the node's membership service listens (host:port).").Opt(),
		"voter":        schema.Bool("The node votes in the cluster's consensus.").Ptr(),
		"leader":       schema.Bool("The node leads the consensus now.").Opt(),
	}))
}

// Cluster configuration endpoints.
var (
	ClusterConfigIndex = Declare[NoParams, []Child](Endpoint{
		Path: "/cluster/config", Method: "GET", Name: "index",
		Description: "List what can be found below /cluster/config.",
		Perm:        Perm("/", "Sys.Audit"), Returns: childIndex("name"),
	})

	ClusterCreate = DeclareTask[ClusterCreateParams](Endpoint{
		Path: "/cluster/config", Method: "POST", Name: "create",
		Description: "Make this standalone node the first member of a new cluster.",
		Params: linkParams(schema.Props{
			"clustername":       schema.Schema{Type: schema.String, Format: "pve-node", MaxLength: 15, Description: "Name of the new cluster."}.Ptr(),
			"nodeid":            schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Numeric id of this node (default 1)."}.Opt(),
			"votes":             schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Votes of this node (kept for compatibility; every voter has one)."}.Opt(),
			"token-coefficient": schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Accepted for compatibility; Hearth's consensus has no token timeout."}.Def(int64(125)).Ptr(),
		}),
		AllowExtra: false,
		Perm:       clusterAdmin(), Protected: true,
		CLI: []Command{{Tool: "pvecm", Cmd: "create", Args: []string{"clustername"}}},
	})

	ClusterNodes = Declare[NoParams, []ClusterNode](Endpoint{
		Path: "/cluster/config/nodes", Method: "GET", Name: "nodes",
		Description: "List the nodes of the cluster configuration.",
		Perm:        Perm("/", "Sys.Audit"),
		Returns:     clusterNodeReturns(),
		CLI:         []Command{{Tool: "pvecm", Cmd: "nodes", Columns: []string{"nodeid", "name", "address", "voter", "leader"}, SortBy: "nodeid"}},
	})

	ClusterAddNode = Declare[AddNodeParams, AddNodeResult](Endpoint{
		Path: "/cluster/config/nodes/{node}", Method: "POST", Name: "addnode",
		Description: "Admit a new node to the cluster and hand it the credentials it needs. A joining node calls this on a member; administrators use the join call on the new node instead.",
		Params: linkParams(schema.Props{
			"node":           schema.Node().Desc("Name of the node to add.").Ptr(),
			"new_node_ip":    schema.Schema{Type: schema.String, Format: "ip", Description: "Address of the new node."}.Opt(),
			"nodeid":         schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Numeric id for the new node (default: the next free one)."}.Opt(),
			"votes":          schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Accepted for compatibility; the cluster decides who votes."}.Opt(),
			"force":          schema.Bool("Replace a node of the same name that is no longer around.").Opt(),
			"apiversion":     schema.Schema{Type: schema.Integer, Description: "The join protocol version of the new node."}.Opt(),
			"api-address":    hostPort("Where the new node's API and consensus listener is reached (host:port).").Opt(),
			"gossip-address": hostPort("Where the new node's membership service is reached (host:port).").Opt(),
		}),
		Perm: clusterAdmin(), Protected: true,
		Returns: schema.Obj("", schema.Props{
			"clustername": schema.Str("Name of the cluster.").Ptr(),
			"nodeid":      schema.Int("Numeric id given to the new node.").Ptr(),
			"ca":          schema.Str("The cluster's CA certificate (PEM).").Ptr(),
			"cert":        schema.Str("The new node's certificate (PEM).").Ptr(),
			"key":         schema.Schema{Type: schema.String, Sensitive: true, Description: "The new node's private key (PEM)."}.Ptr(),
			"peers":       clusterNodeReturns().Ptr(),
			"warnings":    schema.ArrayOf("Things the administrator should know.", schema.Str("")).Ptr(),
		}),
	})

	ClusterDelNode = Declare[NodeParam, any](Endpoint{
		Path: "/cluster/config/nodes/{node}", Method: "DELETE", Name: "delnode",
		Description: "Remove a node from the cluster. Shut the node down first; it cannot come back without joining again.",
		Params:      schema.Props{"node": schema.Node().Ptr()},
		Perm:        clusterAdmin(), Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pvecm", Cmd: "delnode", Args: []string{"node"}}},
	})

	ClusterJoinInfo = Declare[JoinInfoParams, JoinInfo](Endpoint{
		Path: "/cluster/config/join", Method: "GET", Name: "join_info",
		Description: "Show what a new node needs to join this cluster: its nodes, their addresses and certificate fingerprints.",
		Params:      schema.Props{"node": schema.Node().Desc("The node to name as preferred contact (default: this one).").Opt()},
		Perm:        Perm("/", "Sys.Audit"),
		Returns: schema.Obj("", schema.Props{
			"config_digest":  schema.Str("Digest of the cluster configuration.").Ptr(),
			"preferred_node": schema.Node().Ptr(),
			"totem":          schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "Cluster communication settings."}.Ptr(),
			"nodelist": schema.ArrayOf("The nodes.", schema.Obj("", schema.Props{
				"name":         schema.Node().Ptr(),
				"nodeid":       schema.Int("Numeric id.").Ptr(),
				"pve_addr":     schema.Str("API address.").Ptr(),
				"pve_fp":       fingerprintSchema("SHA-256 fingerprint of the node's certificate.").Ptr(),
				"quorum_votes": schema.Int("Votes.").Ptr(),
				"ring0_addr":   schema.Str("Address on the first link.").Opt(),
			})).Ptr(),
		}),
	})

	ClusterJoin = DeclareTask[JoinParams](Endpoint{
		Path: "/cluster/config/join", Method: "POST", Name: "join",
		Description: "Make this node join an existing cluster through one of its members. The node must have no guests; its own configuration is replaced by the cluster's (the old state is kept in a backup directory).",
		Params: linkParams(schema.Props{
			"hostname":    schema.Schema{Type: schema.String, MaxLength: 256, Description: "Address of a cluster member, optionally with :port."}.Ptr(),
			"fingerprint": fingerprintSchema("SHA-256 fingerprint of that member's certificate.").Ptr(),
			"password":    schema.Schema{Type: schema.String, MaxLength: 128, Sensitive: true, Description: "Password of the user (root@pam by default) on the cluster."}.Ptr(),
			"user":        schema.UserID().Desc("User to log in as on the cluster; it needs full rights on /.").Def("root@pam").Ptr(),
			"nodeid":      schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Numeric id for this node (default: the next free one)."}.Opt(),
			"votes":       schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Accepted for compatibility; the cluster decides who votes."}.Opt(),
			"force":       schema.Bool("Join even if this node seems to be in a cluster already, replacing a stale member of the same name.").Opt(),
		}),
		Perm: clusterAdmin(), Protected: true,
		CLI: []Command{{Tool: "pvecm", Cmd: "add", Args: []string{"hostname"}}},
	})

	ClusterAPIVersion = Declare[NoParams, int](Endpoint{
		Path: "/cluster/config/apiversion", Method: "GET", Name: "join_api_version",
		Description: "Show the version of the join protocol this node speaks.",
		Perm:        Perm("/", "Sys.Audit"),
		Returns:     schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Join protocol version."},
		CLI:         []Command{{Tool: "pvecm", Cmd: "apiver"}},
	})

	ClusterTotem = Declare[NoParams, map[string]any](Endpoint{
		Path: "/cluster/config/totem", Method: "GET", Name: "totem",
		Description: "Show the cluster communication settings.",
		Perm:        Perm("/", "Sys.Audit"),
		Returns:     schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "Settings."},
	})

	ClusterExpected = Declare[ExpectedParams, any](Endpoint{
		Path: "/cluster/config/expected", Method: "POST", Name: "expected",
		Description: "Escape hatch after losing nodes for good: make the nodes still alive the only voters, so the cluster accepts changes again. Writes that only the lost nodes had may be gone. Run it on the surviving nodes, with the number of survivors.",
		Params:      schema.Props{"expected": schema.Schema{Type: schema.Integer, Minimum: schema.F(1), Description: "Number of voters left (this node and the other nodes still alive)."}.Ptr()},
		Perm:        clusterAdmin(), Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pvecm", Cmd: "expected", Args: []string{"expected"}}},
	})

	ClusterQDeviceStatus = Declare[NoParams, map[string]any](Endpoint{
		Path: "/cluster/config/qdevice", Method: "GET", Name: "status",
		Description: "Show the witness that keeps a two-node cluster quorate, if there is one.",
		Perm:        Perm("/", "Sys.Audit"), Protected: true,
		Returns: schema.Schema{Type: schema.Object, AdditionalProperties: true, Description: "The witness: name, address, whether it votes."},
	})

	ClusterQDeviceSetup = Declare[QDeviceParams, any](Endpoint{
		Path: "/cluster/config/qdevice", Method: "POST", Name: "setup",
		Description: "Add a witness (started with 'hearth witness') as a voter, so that a two-node cluster keeps quorum when one node fails.",
		Params: schema.Props{
			"address":     hostPort("Where the witness listens (host:port).").Ptr(),
			"fingerprint": fingerprintSchema("Fingerprint the witness printed when it started.").Ptr(),
			"token":       schema.Schema{Type: schema.String, MaxLength: 128, Sensitive: true, Description: "Setup token the witness printed when it started."}.Ptr(),
		},
		Perm: clusterAdmin(), Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pvecm", Cmd: "qdevice setup", Args: []string{"address"}}},
	})

	ClusterQDeviceRemove = Declare[NoParams, any](Endpoint{
		Path: "/cluster/config/qdevice", Method: "DELETE", Name: "remove",
		Description: "Remove the witness from the cluster.",
		Perm:        clusterAdmin(), Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pvecm", Cmd: "qdevice remove"}},
	})

	NodeCertificatesInfo = Declare[NodeParam, []CertInfo](Endpoint{
		Path: "/nodes/{node}/certificates/info", Method: "GET", Name: "info",
		Description: "Show the node's certificates: the cluster CA and the node's own, with fingerprints and validity.",
		Params:      nodeProps, Perm: AnyUser(""), ProxyTo: "node",
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"filename":        schema.Str("Name of the certificate file.").Opt(),
			"fingerprint":     fingerprintSchema("SHA-256 fingerprint.").Opt(),
			"issuer":          schema.Str("Issuer.").Opt(),
			"subject":         schema.Str("Subject.").Opt(),
			"notbefore":       schema.Schema{Type: schema.Integer, Renderer: "timestamp", Optional: true, Description: "Valid from."}.Ptr(),
			"notafter":        schema.Schema{Type: schema.Integer, Renderer: "timestamp", Optional: true, Description: "Valid until."}.Ptr(),
			"pem":             schema.Schema{Type: schema.String, Format: "pem-certificate", Optional: true, Description: "The certificate."}.Ptr(),
			"public-key-type": schema.Str("Key algorithm.").Opt(),
			"public-key-bits": schema.Int("Key size in bits.").Opt(),
			"san":             schema.ArrayOf("Names and addresses the certificate is valid for.", schema.Str("")).Opt(),
		})),
		CLI: []Command{{Tool: "pvenode", Cmd: "cert info", Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"filename", "fingerprint", "subject", "notafter"}}},
	})
)

// JoinInfoParams is the input of GET /cluster/config/join.
type JoinInfoParams struct {
	Node string `json:"node"`
}
