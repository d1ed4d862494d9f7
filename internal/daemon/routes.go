package daemon

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/apidoc"
	"github.com/hearth-virt/hearth/internal/cluster"
	"github.com/hearth-virt/hearth/internal/datacenter"
)

// routes binds every declared endpoint to its handler: the one table that
// says who serves what.
func (d *Daemon) routes() []api.Route {
	routes := []api.Route{
		api.Version.Handle(d.version),
		api.AccessIndex.Handle(d.index("/access", "subdir")),
		api.ClusterIndex.Handle(d.index("/cluster", "name")),
		api.ClusterConfigIndex.Handle(d.index("/cluster/config", "name")),
		api.ClusterStatus.Handle(d.clusterStatus),
		api.ClusterNextID.Handle(d.nextID),
		api.ClusterResources.Handle(d.resources),
		api.NodeList.Handle(d.nodeList),
		api.NodeIndex.Handle(func(ctx context.Context, c *api.Call, _ *api.NodeParam) ([]api.Child, error) {
			return d.children("/nodes/{node}", "name"), nil
		}),
		api.NodeStatusGet.Handle(d.nodeStatus),
		api.NodeVersion.Handle(func(ctx context.Context, c *api.Call, _ *api.NodeParam) (api.VersionInfo, error) {
			return d.version(ctx, c, nil)
		}),
		api.NodeTimeGet.Handle(d.nodeTime),
		api.NodeSyslog.Handle(d.syslog),
		api.NodeJournal.Handle(d.journal),
		api.TaskList.Handle(d.taskList),
		api.TaskIndex.Handle(func(ctx context.Context, c *api.Call, in *api.TaskParams) ([]api.Child, error) {
			if _, err := d.taskFor(c, in.UPID, "Sys.Audit"); err != nil {
				return nil, err
			}
			return d.children("/nodes/{node}/tasks/{upid}", "name"), nil
		}),
		api.TaskStop.Handle(d.taskStop),
		api.TaskStatusGet.Handle(d.taskStatus),
		api.TaskLogGet.Handle(d.taskLog),
	}
	routes = append(routes, d.access.Routes()...)
	routes = append(routes, d.storage.Routes()...)
	routes = append(routes, d.vms.Routes()...)
	routes = append(routes, d.cts.Routes()...)
	routes = append(routes, d.vms.ConsoleRoutes(d.access)...)
	routes = append(routes, d.cts.ConsoleRoutes(d.access)...)
	routes = append(routes, datacenter.Routes(d.store)...)
	routes = append(routes, d.network.Routes()...)
	routes = append(routes, d.cluster.QDeviceRoutes()...)
	return append(routes, d.cluster.Routes()...)
}

// index answers a directory index with the literal sub-paths of path.
func (d *Daemon) index(path, key string) func(context.Context, *api.Call, *api.NoParams) ([]api.Child, error) {
	return func(context.Context, *api.Call, *api.NoParams) ([]api.Child, error) {
		return d.children(path, key), nil
	}
}

func (d *Daemon) children(path, key string) []api.Child {
	var out []api.Child
	for _, name := range d.api.Children(path) {
		if key == "subdir" {
			out = append(out, api.Child{Subdir: name})
		} else {
			out = append(out, api.Child{Name: name})
		}
	}
	return out
}

func (d *Daemon) version(context.Context, *api.Call, *api.NoParams) (api.VersionInfo, error) {
	return api.VersionInfo{
		Version: api.PVEVersion,
		Release: api.PVERelease,
		RepoID:  "hearth-" + api.HearthVersion,
		Hearth:  api.HearthVersion,
	}, nil
}

// extraHandler serves what lives outside /api2/json: the OpenAPI document
// and the start page.
// The OpenAPI document is built once: the declarations never change while
// the daemon runs.
func (d *Daemon) extraHandler() (http.Handler, error) {
	doc, err := apidoc.OpenAPIJSON(api.All(), api.HearthVersion)
	if err != nil {
		return nil, fmt.Errorf("building the OpenAPI document: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/internal/", cluster.InternalHandler(d.store))
	mux.HandleFunc("GET /api2/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(startPage))
	})
	return mux, nil
}

// startPage stands where the web interface will be served.
const startPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hearth</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Hearth</h1>
<p>This node is running. Its REST API is at <a href="/api2/json/version">/api2/json</a>,
described by <a href="/api2/openapi.json">/api2/openapi.json</a>.</p>
<p>Use the <code>hearth</code> command line tools (<code>pvesh</code>, <code>pvenode</code>, ...)
or any Proxmox VE API client. The web interface is not part of this build yet.</p>
</body></html>
`
