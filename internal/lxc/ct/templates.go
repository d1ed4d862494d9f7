package ct

import (
	"context"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/lxc/vztmpl"
	"github.com/hearth-virt/hearth/internal/storage"
)

// templateRoutes binds the template list and the builds behind pveam.
// A Hearth node cannot download Proxmox VE's templates (its index and
// archives live on the internet); it builds the templates it lists from
// Debian packages instead, and `pveam download <storage> <template>`
// builds the one named.
func (s *Service) templateRoutes() []api.Route {
	return []api.Route{
		api.AplInfoList.Handle(func(_ context.Context, _ *api.Call, in *api.AplInfoParams) ([]api.AplInfo, error) {
			out := []api.AplInfo{}
			for _, i := range vztmpl.Available() {
				if in.Section != "" && in.Section != i.Section {
					continue
				}
				out = append(out, api.AplInfo{Template: i.File, Package: i.Name, OS: i.OS, Version: i.Version,
					Section: i.Section, Type: i.Type, Headline: i.Description, Description: i.Description,
					Architecture: "amd64", Build: i.Name})
			}
			return out, nil
		}),
		api.AplDownload.Handle(func(ctx context.Context, _ *api.Call, in *api.AplDownloadParams) (api.Task, error) {
			for _, i := range vztmpl.Available() {
				if in.Template == i.File || in.Template == i.Name {
					return s.buildTask(ctx, i.Name, in.Storage)
				}
			}
			return api.Task{}, api.ParamError("template", "no template '%s' on this node; pveam available lists what it can build", in.Template)
		}),
		api.AplBuild.Handle(func(ctx context.Context, _ *api.Call, in *api.AplBuildParams) (api.Task, error) {
			return s.buildTask(ctx, in.Name, in.Storage)
		}),
	}
}

// buildTask builds a template into a storage's vztmpl directory.
func (s *Service) buildTask(ctx context.Context, name, sid string) (api.Task, error) {
	cfg, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return api.Task{}, api.ParamError("storage", "%v", err)
	}
	if !cfg.Holds(storage.VZTmpl) {
		return api.Task{}, api.ParamError("storage", "storage '%s' does not hold container templates (content vztmpl)", sid)
	}
	fs, ok := st.(storage.FileStore)
	if !ok {
		return api.Task{}, api.ParamError("storage", "storage '%s' keeps no files", sid)
	}
	dir, err := fs.ContentDir(storage.VZTmpl)
	if err != nil {
		return api.Task{}, err
	}
	return api.Task{Type: "download", ID: sid, Run: func(ctx context.Context, log api.TaskLog) error {
		file, err := vztmpl.Builder{CacheDir: s.o.TemplateCache}.Build(ctx, name, dir, log.Printf)
		if err != nil {
			return err
		}
		log.Printf("stored %s:vztmpl/%s", sid, file)
		return nil
	}}, nil
}
