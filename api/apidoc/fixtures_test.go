package apidoc

import (
	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// Test declarations: a small fixed API that touches every feature the
// generators handle. The golden file is built from these, not from
// api.All(), so it changes only when the generators do.

type (
	fxItem   struct{ Upid string }
	fxStatus struct{ Status string }
	fxTicket struct{ Username string }
	fxVer    struct{ Version string }
)

var fxNet = schema.NewPropString(schema.Props{
	"model":    schema.Schema{Type: schema.String, Enum: []string{"e1000", "virtio"}, DefaultKey: true, Description: "Network card model."}.Ptr(),
	"bridge":   schema.Schema{Type: schema.String, Format: "pve-bridge-id", Description: "Bridge to attach to."}.Opt(),
	"firewall": schema.Bool("Filter the card's traffic.").Opt(),
	"macaddr":  schema.Schema{Type: schema.String, Format: "mac-addr", Description: "MAC address."}.Opt(),
	"virtio":   schema.Schema{Type: schema.String, Format: "mac-addr", Alias: "macaddr", KeyAlias: "model", Description: "Model virtio with this MAC address."}.Opt(),
})

func fixtures() []*api.Endpoint {
	node := schema.Node().Ptr()
	upid := schema.UPID().Ptr()
	return []*api.Endpoint{
		api.Declare[api.NoParams, fxVer](api.Endpoint{
			Path: "/version", Method: "GET", Name: "version",
			Description: "Read the API version.",
			Perm:        api.AnyUser(""),
			Returns: schema.Obj("", schema.Props{
				"version": schema.Str("The version.").Ptr(),
				"beta":    schema.Bool("A test build.").Def(false).Ptr(),
			}),
		}).E,
		api.Declare[api.Params, api.Paged[fxItem]](api.Endpoint{
			Path: "/nodes/{node}/tasks", Method: "GET", Name: "node_tasks",
			Description: "List the node's tasks. Newest first.",
			Params: schema.Props{
				"node":   node,
				"start":  schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Skip this many."}.Def(int64(0)).Ptr(),
				"vmid":   schema.VMID().Opt(),
				"errors": schema.Bool("Only failed tasks.").Def(false).Ptr(),
				"source": schema.Enum("Which tasks.", "archive", "active", "all").Def("archive").Ptr(),
				"since":  schema.Pat("Only tasks since this date.", `\d{4}-\d{2}-\d{2}`).Opt(),
				"user":   schema.Schema{Type: schema.String, MinLength: 3, MaxLength: 64}.Opt(),
				"types":  schema.ArrayOf("Only these task types.", schema.Str("")).Opt(),
			},
			Perm: api.AnyUser("Others' tasks need Sys.Audit."), ProxyTo: "node",
			Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
				"upid":    upid,
				"endtime": schema.Int("When it ended.").Opt(),
			})),
		}).E,
		api.Declare[api.Params, fxStatus](api.Endpoint{
			Path: "/nodes/{node}/tasks/{upid}/status", Method: "GET", Name: "read_task_status",
			Description: "Read a task's status.",
			Params:      schema.Props{"node": node, "upid": upid},
			Perm:        api.Perm("/nodes/{node}", "Sys.Audit"), ProxyTo: "node", Protected: true,
			Returns: schema.Obj("", schema.Props{
				"status":   schema.Enum("Whether it runs.", "running", "stopped").Ptr(),
				"detail":   schema.Schema{Type: schema.Any, Optional: true, Description: "Anything."}.Ptr(),
				"exitcode": schema.Schema{Type: schema.Null, Optional: true}.Ptr(),
			}),
		}).E,
		api.Declare[api.Params, any](api.Endpoint{
			Path: "/nodes/{node}/tasks/{upid}", Method: "DELETE", Name: "stop_task",
			Description: "Stop a task.",
			Params:      schema.Props{"node": node, "upid": upid},
			Perm:        api.RootOnly(), ProxyTo: "node", Protected: true,
			Returns: schema.Schema{Type: schema.Null},
		}).E,
		api.DeclareTask[api.Params](api.Endpoint{
			Path: "/nodes/{node}/guests", Method: "POST", Name: "create_guest",
			Description: "Create a guest.",
			Params: schema.Props{
				"node":     node,
				"vmid":     schema.VMID().Ptr(),
				"name":     schema.Schema{Type: schema.String, Format: "dns-name", MaxLength: 63, Description: "Guest name."}.Opt(),
				"net0":     schema.Schema{Type: schema.String, Prop: fxNet, Description: "First network card."}.Opt(),
				"password": schema.Schema{Type: schema.String, Sensitive: true, Description: "Root password."}.Opt(),
				"start":    schema.Bool("Start it afterwards.").Def(true).Ptr(),
			},
			Perm:    api.And(api.Perm("/vms/{vmid}", "VM.Allocate"), api.PermAny("/nodes/{node}", "Sys.Modify", "Sys.Audit")),
			ProxyTo: "node", Protected: true,
		}).E,
		api.Declare[api.Params, any](api.Endpoint{
			Path: "/nodes/{node}/config", Method: "PUT", Name: "set_config",
			Description: "Change the node's settings.",
			Params:      schema.Props{"node": node, "digest": schema.Digest().Ptr()},
			AllowExtra:  true,
			Perm:        api.Or(api.Perm("/nodes/{node}", "Sys.Modify"), api.RootOnly()),
			Returns:     schema.Schema{Type: schema.Null},
		}).E,
		api.Declare[api.Params, fxTicket](api.Endpoint{
			Path: "/access/ticket", Method: "POST", Name: "create_ticket",
			Description: "Log in.",
			Params: schema.Props{
				"username": schema.UserID().Ptr(),
				"password": schema.Schema{Type: schema.String, Sensitive: true, Description: "The password."}.Ptr(),
			},
			Perm: api.Public(), NoToken: true, NoCSRF: true, Protected: true,
			Returns: schema.Obj("", schema.Props{
				"username": schema.Str("The user.").Ptr(),
				"cap":      schema.Schema{Type: schema.Object, AdditionalProperties: true, Optional: true}.Ptr(),
			}),
		}).E,
	}
}

// fxFind returns the fixture with the given method and path.
func fxFind(method, path string) *api.Endpoint {
	for _, e := range fixtures() {
		if e.Method == method && e.Path == path {
			return e
		}
	}
	panic("no fixture " + method + " " + path)
}
