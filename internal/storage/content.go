package storage

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/api"
)

// The storages of this node and their volumes.

// attributes is implemented by storages that keep notes and protection
// beside their volumes (the file storages).
type attributes interface {
	Notes(ctx context.Context, volname string) (string, error)
	SetNotes(ctx context.Context, volname, notes string) error
	Protected(ctx context.Context, volname string) (bool, error)
	SetProtected(ctx context.Context, volname string, protected bool) error
}

// parseVolname reads what a volume name says on a storage of cfg's type:
// file storages name volumes by directory, block storages by name alone.
func parseVolname(st Storage, volname string) (Vol, error) {
	if _, ok := st.(FileStore); ok {
		return ParseFileVolname(volname)
	}
	return ParseBlockVolname(volname)
}

// volumeName resolves the volume parameter: a volume id of the storage in
// the path, or a volume name within it.
func volumeName(storageID, volume string) (string, error) {
	if sid, name, err := ParseVolumeID(volume); err == nil {
		if storageID != "" && sid != storageID {
			return "", api.ParamError("volume", "volume %s is not on storage '%s'", volume, storageID)
		}
		return name, nil
	}
	if strings.Contains(volume, ":") {
		return "", api.ParamError("volume", "%q is not a volume id (<storage>:<name>)", volume)
	}
	if storageID == "" {
		return "", api.ParamError("volume", "give a volume id (<storage>:<name>) when no storage is named")
	}
	return volume, nil
}

// checkVolumeAccess decides whether the caller may read (or, with write,
// change) a volume, as Proxmox VE does: Datastore.Allocate on the storage
// allows everything; otherwise disk images need Datastore.AllocateSpace
// and the owning guest's VM.Config.Disk, backups Datastore.AllocateSpace
// and VM.Backup, and templates, ISO images and import sources are
// readable with Datastore.Audit or Datastore.AllocateSpace. Snippets
// (hook scripts, cloud-init user data) need Datastore.Allocate.
func checkVolumeAccess(c *api.Call, storageID string, v Vol, write bool) error {
	sp := "/storage/" + storageID
	if c.Perm == nil {
		return &api.Denied{Path: sp, Priv: "Datastore.Allocate"}
	}
	if c.Perm.Has(sp, "Datastore.Allocate") {
		return nil
	}
	vmPath := "/vms/" + strconv.Itoa(v.VMID)
	switch v.Content {
	case Snippets:
		return &api.Denied{Path: sp, Priv: "Datastore.Allocate"}
	case ISO, VZTmpl, Import:
		if write {
			if c.Perm.Has(sp, "Datastore.AllocateTemplate") {
				return nil
			}
			return &api.Denied{Path: sp, Priv: "Datastore.AllocateTemplate"}
		}
		if c.Perm.HasAny(sp, "Datastore.Audit", "Datastore.AllocateSpace") {
			return nil
		}
		return &api.Denied{Path: sp, Priv: "Datastore.Audit"}
	case Backup:
		if v.VMID != 0 && c.Perm.Has(sp, "Datastore.AllocateSpace") && c.Perm.Has(vmPath, "VM.Backup") {
			return nil
		}
		return &api.Denied{Path: vmPath, Priv: "VM.Backup"}
	default:
		if v.VMID != 0 && c.Perm.Has(sp, "Datastore.AllocateSpace") && c.Perm.Has(vmPath, "VM.Config.Disk") {
			return nil
		}
		return &api.Denied{Path: vmPath, Priv: "VM.Config.Disk"}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nodeStorage reports one storage's state on this node. A storage that
// cannot be activated is listed inactive with the reason.
func (s *Service) nodeStorage(ctx context.Context, cfg Config, formats bool) api.NodeStorage {
	info := s.plugins[cfg.Type].Info()
	out := api.NodeStorage{Storage: cfg.ID, Type: cfg.Type, Content: ContentList(cfg.Content),
		Enabled: boolInt(!cfg.Disable), Shared: boolInt(cfg.Shared)}
	if formats {
		out.Formats = map[string]any{"supported": info.Formats, "default": info.DefaultFormat}
	}
	if cfg.Disable {
		return out
	}
	_, st, err := s.Open(ctx, cfg.ID)
	if err == nil {
		var stat Status
		stat, err = st.Status(ctx)
		if err == nil && stat.Active {
			out.Active, out.Total, out.Used, out.Avail = 1, stat.Total, stat.Used, stat.Avail
			if stat.Total > 0 {
				out.UsedFraction = float64(stat.Used) / float64(stat.Total)
			}
		}
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

// ContentList renders content types as storage.cfg and the API write
// them: comma-separated, "none" for nothing.
func ContentList(cs []Content) string {
	if len(cs) == 0 {
		return "none"
	}
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}

func (s *Service) nodeStorages(ctx context.Context, c *api.Call, in *api.NodeStorageListParams) ([]api.NodeStorage, error) {
	cfgs, err := s.Configs()
	if err != nil {
		return nil, err
	}
	want := parseContentList(in.Content)
	var picked []Config
	for _, cfg := range cfgs {
		switch {
		case in.Storage != "" && cfg.ID != in.Storage,
			!canSee(c, cfg.ID),
			!cfg.OnNode(s.o.Env.Node),
			in.Enabled && cfg.Disable,
			in.Target != "" && in.Target != s.o.Env.Node && (!cfg.Shared || !cfg.OnNode(in.Target)),
			len(want) > 0 && !slices.ContainsFunc(want, cfg.Holds):
			continue
		}
		picked = append(picked, cfg)
	}
	return s.nodeStorageList(ctx, picked, in.Format), nil
}

// nodeStorageList asks storages for their state in parallel: one slow
// mount must not make the whole list wait for each of the others in turn.
func (s *Service) nodeStorageList(ctx context.Context, cfgs []Config, formats bool) []api.NodeStorage {
	out := make([]api.NodeStorage, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.nodeStorage(ctx, cfg, formats)
		}()
	}
	wg.Wait()
	return out
}

func (s *Service) nodeStorageStatus(ctx context.Context, c *api.Call, in *api.NodeStorageParam) (api.NodeStorage, error) {
	cfg, _, err := s.instance(in.Storage)
	if err != nil {
		return api.NodeStorage{}, err
	}
	return s.nodeStorage(ctx, cfg, false), nil
}

func volumeItem(storageID string, v Volume) api.ContentItem {
	return api.ContentItem{VolID: storageID + ":" + v.Volname, Content: string(v.Content), Format: v.Format,
		Size: v.Size, Used: v.Used, VMID: v.VMID, CTime: v.CTime, Parent: v.Parent, Notes: v.Notes, Protected: boolInt(v.Protected)}
}

func (s *Service) listContent(ctx context.Context, c *api.Call, in *api.ContentListParams) ([]api.ContentItem, error) {
	cfg, st, err := s.Open(ctx, in.Storage)
	if err != nil {
		return nil, err
	}
	content := cfg.Content
	if in.Content != "" {
		if !cfg.Holds(Content(in.Content)) {
			return []api.ContentItem{}, nil
		}
		content = []Content{Content(in.Content)}
	}
	vols, err := st.List(ctx, in.VMID, content)
	if err != nil {
		return nil, err
	}
	SortVolumes(vols)
	out := []api.ContentItem{}
	for _, v := range vols {
		pv, err := parseVolname(st, v.Volname)
		if err != nil {
			pv = Vol{Content: v.Content, VMID: v.VMID}
		}
		if checkVolumeAccess(c, in.Storage, pv, false) != nil {
			continue
		}
		out = append(out, volumeItem(in.Storage, v))
	}
	return out, nil
}

// ParseSize reads the size of an allocation: KiB, or with a suffix M or G.
func ParseSize(s string) (int64, error) {
	mult := int64(1024)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	// Digits only, as the API's pattern \d+[MG]? says: ParseInt alone
	// would take a sign.
	digits := s != "" && strings.Trim(s, "0123456789") == ""
	n, err := strconv.ParseInt(s, 10, 64)
	if !digits || err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size: expected a positive number of KiB, or a number with the suffix M or G", s)
	}
	return n * mult, nil
}

func (s *Service) allocVolume(ctx context.Context, c *api.Call, in *api.AllocParams) (string, error) {
	size, err := ParseSize(in.Size)
	if err != nil {
		return "", api.ParamError("size", "%v", err)
	}
	cfg, st, err := s.Open(ctx, in.Storage)
	if err != nil {
		return "", err
	}
	info := s.plugins[cfg.Type].Info()
	format := in.Format
	name := in.Filename
	_, isFile := st.(FileStore)
	if ext := imageExtRE.FindStringSubmatch(name); ext != nil && isFile {
		if format != "" && format != ext[1] {
			return "", api.ParamError("format", "the name %s says %s, the format says %s", name, ext[1], format)
		}
		format = ext[1]
	}
	if format == "" {
		format = cfg.Props["format"]
	}
	if format == "" {
		format = info.DefaultFormat
	}
	if !slices.Contains(info.Formats, format) {
		return "", api.ParamError("format", "storage '%s' does not store %s images (it stores %s)", cfg.ID, format, strings.Join(info.Formats, ", "))
	}
	if !cfg.Holds(Images) && !cfg.Holds(Rootdir) {
		return "", api.Errorf(http.StatusBadRequest, "storage '%s' does not hold disk images or container volumes", cfg.ID)
	}
	unlock := s.lockVolumes(cfg.ID)
	defer unlock()
	volname, err := st.Alloc(ctx, in.VMID, name, format, size)
	if err != nil {
		return "", api.Errorf(http.StatusBadRequest, "%v", err)
	}
	s.log.Info("volume allocated", "volume", cfg.ID+":"+volname, "size", size, "user", c.User)
	return cfg.ID + ":" + volname, nil
}

// volume opens the storage of a volume parameter and checks access.
func (s *Service) volume(ctx context.Context, c *api.Call, storageID, volume string, write bool) (Config, Storage, string, Vol, error) {
	volname, err := volumeName(storageID, volume)
	if err != nil {
		return Config{}, nil, "", Vol{}, err
	}
	if storageID == "" {
		storageID, _, _ = ParseVolumeID(volume)
	}
	cfg, st, err := s.Open(ctx, storageID)
	if err != nil {
		return cfg, nil, "", Vol{}, err
	}
	v, err := parseVolname(st, volname)
	if err != nil {
		return cfg, nil, "", Vol{}, api.ParamError("volume", "%v", err)
	}
	if err := checkVolumeAccess(c, storageID, v, write); err != nil {
		return cfg, nil, "", Vol{}, err
	}
	return cfg, st, volname, v, nil
}

func (s *Service) volumeInfo(ctx context.Context, c *api.Call, in *api.VolumeParams) (api.VolumeAttrs, error) {
	_, st, volname, _, err := s.volume(ctx, c, in.Storage, in.Volume, false)
	if err != nil {
		return api.VolumeAttrs{}, err
	}
	v, err := st.Volume(ctx, volname)
	if err != nil {
		return api.VolumeAttrs{}, err
	}
	out := api.VolumeAttrs{Size: v.Size, Used: v.Used, Format: v.Format, Notes: v.Notes, Protected: boolInt(v.Protected)}
	if a, err := st.Attach(ctx, volname, ""); err == nil {
		out.Path = attachmentPath(a)
	}
	if at, ok := st.(attributes); ok && v.Content == Backup {
		out.Notes, _ = at.Notes(ctx, volname)
	}
	return out, nil
}

// attachmentPath is the path of a volume, or the QEMU URL when it has
// none on this node.
func attachmentPath(a Attachment) string {
	if a.Path != "" {
		return a.Path
	}
	if u, ok := a.Blockdev["url"].(string); ok {
		return u
	}
	return BlockdevJSON(a.Blockdev)
}

func (s *Service) updateVolume(ctx context.Context, c *api.Call, in *api.VolumeUpdateParams) (any, error) {
	_, st, volname, v, err := s.volume(ctx, c, in.Storage, in.Volume, true)
	if err != nil {
		return nil, err
	}
	at, ok := st.(attributes)
	if !ok || v.Content != Backup {
		return nil, api.Errorf(http.StatusBadRequest, "volume %s keeps no notes or protection: only backups on file storages do", in.Volume)
	}
	if in.Notes != nil {
		if err := at.SetNotes(ctx, volname, *in.Notes); err != nil {
			return nil, err
		}
	}
	if in.Protected != nil {
		if err := at.SetProtected(ctx, volname, *in.Protected); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (s *Service) volumePath(ctx context.Context, c *api.Call, in *api.VolumeParams) (string, error) {
	_, st, volname, _, err := s.volume(ctx, c, in.Storage, in.Volume, false)
	if err != nil {
		return "", err
	}
	a, err := st.Attach(ctx, volname, "")
	if err != nil {
		return "", err
	}
	return attachmentPath(a), nil
}

func (s *Service) deleteVolume(ctx context.Context, c *api.Call, in *api.VolumeDeleteParams) (api.Task, error) {
	cfg, st, volname, _, err := s.volume(ctx, c, in.Storage, in.Volume, true)
	if err != nil {
		return api.Task{}, err
	}
	volid := cfg.ID + ":" + volname
	refs, err := s.references(volid)
	if err != nil {
		return api.Task{}, err
	}
	for _, r := range refs {
		if !r.unused {
			return api.Task{}, api.Errorf(http.StatusBadRequest, "volume %s is in use by %s %d (%s); remove it from the guest first", volid, guestWord(r.kind), r.vmid, r.key)
		}
	}
	if _, err := st.Volume(ctx, volname); err != nil {
		return api.Task{}, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	return api.Task{Type: "imgdel", Run: func(ctx context.Context, log api.TaskLog) error {
		unlock := s.lockVolumes(cfg.ID)
		defer unlock()
		if err := st.Free(ctx, volname); err != nil {
			return err
		}
		log.Printf("removed volume %s", volid)
		if err := s.dropUnused(ctx, volid, refs); err != nil {
			return fmt.Errorf("the volume is removed, but its unused entries could not be dropped from the guest configuration: %w", err)
		}
		for _, r := range refs {
			log.Printf("dropped %s from %s %d", r.key, guestWord(r.kind), r.vmid)
		}
		return nil
	}}, nil
}

func guestWord(kind string) string {
	if kind == "lxc" {
		return "CT"
	}
	return "VM"
}

// ParseVolname reads what a volume name of st says (owner, format, base).
func ParseVolname(st Storage, volname string) (Vol, error) { return parseVolname(st, volname) }

// CheckVolumeAccess applies the storage's volume access rules for guest
// code that puts a volume into a configuration (an ISO, an existing disk).
func CheckVolumeAccess(c *api.Call, storageID string, v Vol, write bool) error {
	return checkVolumeAccess(c, storageID, v, write)
}
