package api

import "github.com/hearth-virt/hearth/api/schema"

// The cloud-init drive of a VM.

// CloudInitDumpParams is the input of GET …/cloudinit/dump.
type CloudInitDumpParams struct {
	Node string `json:"node"`
	VMID int    `json:"vmid"`
	Type string `json:"type"`
}

var (
	CloudInitPending = Declare[VMParam, []VMPending](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/cloudinit", Method: "GET", Name: "cloudinit_pending",
		Description: "List the cloud-init settings: what the current drive was built from and what a rebuilt drive would get.",
		Params:      vmProps(nil), Perm: Perm("/vms/{vmid}", "VM.Audit"), ProxyTo: "node",
		Returns: pendingSchema(),
		CLI:     []Command{{Tool: "qm", Cmd: "cloudinit pending", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}, Columns: []string{"key", "value", "pending", "delete"}}},
	})

	CloudInitUpdate = Declare[VMParam, any](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/cloudinit", Method: "PUT", Name: "cloudinit_update",
		Description: "Rebuild the cloud-init drive from the current configuration.",
		Params:      vmProps(nil), Perm: Perm("/vms/{vmid}", "VM.Config.Cloudinit"), ProxyTo: "node", Protected: true,
		Returns: schema.Schema{Type: schema.Null},
		CLI:     []Command{{Tool: "qm", Cmd: "cloudinit update", Args: []string{"vmid"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	CloudInitDump = Declare[CloudInitDumpParams, string](Endpoint{
		Path: "/nodes/{node}/qemu/{vmid}/cloudinit/dump", Method: "GET", Name: "cloudinit_generated_config_dump",
		Description: "Show the cloud-init data the drive gets, as generated from the configuration.",
		Params:      vmProps(schema.Props{"type": schema.Enum("Which part.", "user", "network", "meta").Ptr()}),
		Perm:        Perm("/vms/{vmid}", "VM.Audit"), ProxyTo: "node",
		Returns: schema.Str("The generated data."),
		CLI:     []Command{{Tool: "qm", Cmd: "cloudinit dump", Args: []string{"vmid", "type"}, Fixed: map[string]string{"node": LocalNode}, Output: "raw"}},
	})
)

func cloudInitEndpoints() []*Endpoint {
	return []*Endpoint{CloudInitPending.E, CloudInitUpdate.E, CloudInitDump.E}
}
