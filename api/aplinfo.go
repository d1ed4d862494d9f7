package api

import "github.com/hearth-virt/hearth/api/schema"

// Container templates a node can provide (Proxmox VE's appliance list,
// behind pveam). Proxmox VE downloads them from its mirror; a Hearth node
// builds its own from Debian packages (it has no other source), so the
// list names what the node can build and "download" builds it.

// AplInfoParams is the input of GET /nodes/{node}/aplinfo.
type AplInfoParams struct {
	Node    string `json:"node"`
	Section string `json:"section"`
}

// AplInfo is one row of GET /nodes/{node}/aplinfo.
type AplInfo struct {
	Template     string `json:"template"`
	Package      string `json:"package"`
	OS           string `json:"os"`
	Version      string `json:"version"`
	Section      string `json:"section"`
	Type         string `json:"type"`
	Headline     string `json:"headline"`
	Description  string `json:"description"`
	Architecture string `json:"architecture,omitempty"`
	Maintainer   string `json:"maintainer,omitempty"`
	InfoPage     string `json:"infopage,omitempty"`
	// Build is the recipe name pveam build takes for this template.
	Build string `json:"build,omitempty"`
}

// AplDownloadParams is the input of POST /nodes/{node}/aplinfo.
type AplDownloadParams struct {
	Node     string `json:"node"`
	Storage  string `json:"storage"`
	Template string `json:"template"`
}

// AplBuildParams is the input of POST /nodes/{node}/aplinfo/build.
type AplBuildParams struct {
	Node    string `json:"node"`
	Name    string `json:"name"`
	Storage string `json:"storage"`
}

// The template recipes a node builds from Debian packages.
const (
	// AplBuildBusybox is a minimal root file system: busybox and its
	// applets, an init and a shell; quick to build, for tests.
	AplBuildBusybox = "busybox"
	// AplBuildDebian is a small Debian system made with debootstrap.
	AplBuildDebian = "debian"
)

// aplSections are the sections of Proxmox VE's appliance list.
var aplSections = []string{"mail", "system", "turnkeylinux"}

var (
	AplInfoList = Declare[AplInfoParams, []AplInfo](Endpoint{
		Path: "/nodes/{node}/aplinfo", Method: "GET", Name: "aplinfo",
		Description: "List the container templates this node can put into a storage. A Hearth node builds them " +
			"from Debian packages instead of downloading them.",
		Params: schema.Props{
			"node":    schema.Node().Ptr(),
			"section": schema.Enum("Only templates of this section (a Hearth addition, for pveam available --section).", aplSections...).Opt(),
		},
		Perm:    AnyUser(""),
		ProxyTo: "node",
		Returns: schema.ArrayOf("", schema.Obj("", schema.Props{
			"template":     schema.Str("File name of the template, as it appears in vztmpl content.").Ptr(),
			"package":      schema.Str("Name of the template without version.").Ptr(),
			"os":           schema.Str("The system inside, as ostype names it (debian, alpine, …).").Ptr(),
			"version":      schema.Str("Version of the template.").Ptr(),
			"section":      schema.Str("Group in the list: system, mail or turnkeylinux.").Ptr(),
			"type":         schema.Str("Kind of guest: lxc.").Ptr(),
			"headline":     schema.Str("One line saying what the template is.").Ptr(),
			"description":  schema.Str("A longer text about the template.").Ptr(),
			"architecture": schema.Str("CPU architecture (amd64, arm64, …).").Opt(),
			"maintainer":   schema.Str("Who looks after the template.").Opt(),
			"infopage":     schema.Str("Web page about the template.").Opt(),
			"build":        schema.Str("Recipe to give pveam build for this template (a Hearth addition).").Opt(),
		})),
		CLI: []Command{{Tool: "pveam", Cmd: "available", Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"section", "template"}, SortBy: "template"}},
	})

	AplDownload = DeclareTask[AplDownloadParams](Endpoint{
		Path: "/nodes/{node}/aplinfo", Method: "POST", Name: "apl_download",
		Description: "Put a template of the list into a storage's vztmpl content. A Hearth node builds it from " +
			"Debian packages, which takes a while, rather than downloading it.",
		Params: schema.Props{
			"node":     schema.Node().Ptr(),
			"storage":  schema.StorageID().Desc("Storage to store the template in; it must hold vztmpl content.").Ptr(),
			"template": schema.Schema{Type: schema.String, MaxLength: 255, Description: "The template, as the list names it."}.Ptr(),
		},
		Perm:    Perm("/storage/{storage}", "Datastore.AllocateTemplate"),
		ProxyTo: "node", Protected: true,
		CLI: []Command{{Tool: "pveam", Cmd: "download", Args: []string{"storage", "template"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	AplBuild = DeclareTask[AplBuildParams](Endpoint{
		Path: "/nodes/{node}/aplinfo/build", Method: "POST", Name: "apl_build",
		Description: "Build a container template from Debian packages on this node and store it in a storage's " +
			"vztmpl content, by the name of its recipe. A Hearth addition, behind pveam build.",
		Params: schema.Props{
			"node": schema.Node().Ptr(),
			"name": schema.Enum("The recipe: busybox (a minimal system, quick to build) or debian (a small Debian "+
				"system made with debootstrap).", AplBuildBusybox, AplBuildDebian).Ptr(),
			"storage": schema.StorageID().Desc("Storage to store the template in; it must hold vztmpl content.").Ptr(),
		},
		Perm:    Perm("/storage/{storage}", "Datastore.AllocateTemplate"),
		ProxyTo: "node", Protected: true,
		CLI: []Command{{Tool: "pveam", Cmd: "build", Args: []string{"name", "storage"}, Fixed: map[string]string{"node": LocalNode}}},
	})
)

// aplInfoEndpoints lists the template endpoints of a node.
func aplInfoEndpoints() []*Endpoint { return []*Endpoint{AplInfoList.E, AplDownload.E, AplBuild.E} }
