package storage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// Backups on a storage: pruning and reading the configuration inside an
// archive.

// pruneMarks lists a storage's backups with what pruning does to each.
func (s *Service) pruneMarks(ctx context.Context, in *api.PruneParams) (Storage, []api.PruneItem, error) {
	cfg, st, err := s.Open(ctx, in.Storage)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Holds(Backup) {
		return nil, nil, api.Errorf(http.StatusBadRequest, "storage '%s' does not hold backups", in.Storage)
	}
	setting := in.PruneBackups
	if setting == "" {
		setting = cfg.Props["prune-backups"]
	}
	if setting == "" {
		setting = "keep-all=1"
	}
	keep, err := ParseKeep(setting)
	if err != nil {
		return nil, nil, api.ParamError("prune-backups", "%v", err)
	}
	vols, err := st.List(ctx, in.VMID, []Content{Backup})
	if err != nil {
		return nil, nil, err
	}
	var backups []BackupInfo
	for _, v := range vols {
		b := BackupOf(cfg.ID+":"+v.Volname, v.VMID, v.CTime, v.Protected)
		if in.Type != "" && b.Type != in.Type {
			continue
		}
		backups = append(backups, b)
	}
	marks := Mark(backups, keep, s.o.Location)
	out := []api.PruneItem{}
	for _, b := range backups {
		typ := b.Type
		if typ == "" {
			typ = "unknown"
		}
		out = append(out, api.PruneItem{VolID: b.Volid, CTime: b.CTime, Mark: marks[b.Volid], Type: typ, VMID: b.VMID})
	}
	return st, out, nil
}

// checkPrunePerm: Datastore.Allocate on the storage, or for one guest's
// backups Datastore.AllocateSpace and VM.Backup on the guest.
func checkPrunePerm(c *api.Call, in *api.PruneParams) error {
	sp := "/storage/" + in.Storage
	if c.Perm != nil && c.Perm.Has(sp, "Datastore.Allocate") {
		return nil
	}
	if in.VMID == 0 {
		return &api.Denied{Path: sp, Priv: "Datastore.Allocate"}
	}
	vp := fmt.Sprintf("/vms/%d", in.VMID)
	if c.Perm != nil && c.Perm.Has(sp, "Datastore.AllocateSpace") && c.Perm.Has(vp, "VM.Backup") {
		return nil
	}
	return &api.Denied{Path: vp, Priv: "VM.Backup"}
}

func (s *Service) pruneDryRun(ctx context.Context, c *api.Call, in *api.PruneParams) ([]api.PruneItem, error) {
	_, items, err := s.pruneMarks(ctx, in)
	return items, err
}

func (s *Service) prune(ctx context.Context, c *api.Call, in *api.PruneParams) (api.Task, error) {
	if err := checkPrunePerm(c, in); err != nil {
		return api.Task{}, err
	}
	st, items, err := s.pruneMarks(ctx, in)
	if err != nil {
		return api.Task{}, err
	}
	id := in.Storage
	if in.VMID != 0 {
		id = fmt.Sprint(in.VMID)
	}
	return api.Task{Type: "prunebackups", ID: id, Run: func(ctx context.Context, log api.TaskLog) error {
		var failed int
		for _, it := range items {
			if it.Mark != MarkRemove {
				log.Printf("keeping %s (%s)", it.VolID, it.Mark)
				continue
			}
			_, volname, _ := ParseVolumeID(it.VolID)
			if err := st.Free(ctx, volname); err != nil {
				log.Warnf("could not remove %s: %v", it.VolID, err)
				failed++
				continue
			}
			log.Printf("removed %s", it.VolID)
		}
		if failed > 0 {
			return fmt.Errorf("%d backups could not be removed", failed)
		}
		return nil
	}}, nil
}

// archiveCompression names the compression of a tar archive by its
// extension, "" when it has none.
func archiveCompression(name string) string {
	switch {
	case strings.HasSuffix(name, ".tgz"):
		return "gz"
	case strings.Contains(name, ".tar."):
		return name[strings.LastIndex(name, ".")+1:]
	}
	return ""
}

// guestConfigNames are the files holding a guest's configuration inside
// a tar backup archive.
var guestConfigNames = []string{"etc/vzdump/pct.conf", "etc/vzdump/qemu-server.conf", "qemu-server.conf"}

func (s *Service) extractConfig(ctx context.Context, c *api.Call, in *api.ExtractConfigParams) (string, error) {
	_, st, volname, v, err := s.volume(ctx, c, "", in.Volume, false)
	if err != nil {
		return "", err
	}
	if v.Content != Backup {
		return "", api.ParamError("volume", "%s is not a backup", in.Volume)
	}
	a, err := st.Attach(ctx, volname, "")
	if err != nil {
		return "", err
	}
	if a.Path == "" {
		return "", api.Errorf(http.StatusBadRequest, "backup %s has no local path on this node", in.Volume)
	}
	return s.ArchiveConfig(ctx, a.Path)
}

// ArchiveConfig reads the guest configuration out of a tar backup archive
// (compressed with gzip, zstd, lzo, bzip2 or xz, or not at all).
func (s *Service) ArchiveConfig(ctx context.Context, archive string) (string, error) {
	name := path.Base(archive)
	if strings.Contains(name, ".vma") {
		return "", api.Errorf(http.StatusNotImplemented, "%s is a VMA archive; reading configurations from VMA archives comes with VMA backups", name)
	}
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var r io.Reader = f
	if algo := archiveCompression(name); algo != "" {
		if r, err = s.decompress(ctx, algo, f); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		// Reading stops at the configuration; closing the pipe of an
		// external tool lets it end instead of blocking on its output.
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s holds no guest configuration", name)
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", name, err)
		}
		clean := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		for _, want := range guestConfigNames {
			if clean == want {
				data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
				return string(data), err
			}
		}
	}
}
