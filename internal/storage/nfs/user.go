package nfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/dir"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
	"github.com/hearth-virt/hearth/internal/storage/nfs/nfs3"
)

// UserStore is an nfs storage on a node without a kernel NFS client.
// Nothing is mounted: the layout is the one a kernel mount would show
// (images/<vmid>/…, template/iso, …), reached through nfs:// URLs with
// qemu-img and nfs-ls, and through package nfs3 for directories,
// exclusive creation, removal and renaming. QEMU's nfs driver speaks
// NFSv3 only, so the server must offer v3 and the options key (mount
// options for the kernel) is not used. Containers cannot use such a
// storage, content files cannot be uploaded to it, and qcow2 linked
// clones cannot be made on it: QEMU's driver cannot open the relative
// backing file names ("../<vmid>/base-…") that clones carry.
type UserStore struct {
	cfg      storage.Config
	env      storage.Env
	server   string
	export   string // without a trailing slash ("" for the root export)
	dial     netfs.DialFunc
	layout   *dir.Store // the layout below the export, rooted at "/"
	prealloc string
	mkdirs   bool
}

func newUserStore(cfg storage.Config, env storage.Env, server, export string, dial netfs.DialFunc) (*UserStore, error) {
	layout, err := dir.NewStore(cfg, env, "/")
	if err != nil {
		return nil, err
	}
	s := &UserStore{cfg: cfg, env: env, server: server, export: strings.TrimSuffix(export, "/"),
		dial: dial, layout: layout, prealloc: "metadata"}
	if v, ok := cfg.Get("preallocation"); ok {
		s.prealloc = v
	}
	if s.mkdirs, err = netfs.Bool(cfg, "create-subdirs", true); err != nil {
		return nil, err
	}
	if _, ok := cfg.Get("create-subdirs"); !ok {
		if s.mkdirs, err = netfs.Bool(cfg, "mkdir", true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *UserStore) errorf(format string, args ...any) error {
	return fmt.Errorf("storage '%s': "+format, append([]any{s.cfg.ID}, args...)...)
}

// unsafeURLRE finds characters that an nfs:// URL would read as query,
// fragment or escape.
var unsafeURLRE = regexp.MustCompile(`[?#%]`)

// url is the nfs:// URL of a path relative to the export.
func (s *UserStore) url(rel string) string {
	return "nfs://" + netfs.BracketIPv6(s.server) + s.export + "/" + rel
}

// rel resolves a volume name to its path below the export.
func (s *UserStore) rel(volname string) (string, storage.Vol, error) {
	v, err := storage.ParseFileVolname(volname)
	if err != nil {
		return "", v, s.errorf("%v", err)
	}
	if v.Content == storage.Rootdir || v.Format == "subvol" {
		return "", v, s.errorf("%s: container volumes need a mounted file system, and this node reaches NFS in userspace", volname)
	}
	var p string
	if v.Content == storage.Images {
		p = s.layout.ImageDir(v.VMID) + "/" + v.Name
	} else {
		d, err := s.layout.ContentDir(v.Content)
		if err != nil {
			return "", v, err
		}
		p = d + "/" + v.Name
	}
	if unsafeURLRE.MatchString(p) {
		return "", v, s.errorf("%s: names with '?', '#' or '%%' cannot be reached through an nfs:// URL", volname)
	}
	return strings.TrimPrefix(p, "/"), v, nil
}

func (s *UserStore) client(ctx context.Context) (*nfs3.Client, error) {
	c, err := nfs3.Dial(ctx, s.server, s.exportPath(), nfs3.Options{Dial: nfs3.DialFunc(s.dial)})
	if err != nil {
		return nil, s.errorf("%v", err)
	}
	return c, nil
}

func (s *UserStore) exportPath() string {
	if s.export == "" {
		return "/"
	}
	return s.export
}

func (s *UserStore) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	res, err := s.env.Runner.Run(ctx, runner.Cmd{Name: name, Args: args})
	return res.Stdout, err
}

// lsEntry is one line of nfs-ls.
type lsEntry struct {
	Dir  bool
	Size int64
	Name string // relative to the listed directory; with -R, a path
}

// nfs-ls prints "<mode> <nlink> <uid> <gid> <size> <name>" per entry
// and, with -s, "<free> of <total> bytes free." after a blank line.
var (
	lsLineRE    = regexp.MustCompile(`^([-dlcbps])[-rwxsStT]{9}\s+\d+\s+\d+\s+\d+\s+(\d+) (.+)$`)
	lsSummaryRE = regexp.MustCompile(`^(\d+) of (\d+) bytes free\.$`)
)

func parseNFSLs(out string) (entries []lsEntry, free, total int64, haveSummary bool) {
	for _, line := range strings.Split(out, "\n") {
		if m := lsLineRE.FindStringSubmatch(line); m != nil {
			size, _ := strconv.ParseInt(m[2], 10, 64)
			entries = append(entries, lsEntry{Dir: m[1] == "d", Size: size, Name: m[3]})
		} else if m := lsSummaryRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			free, _ = strconv.ParseInt(m[1], 10, 64)
			total, _ = strconv.ParseInt(m[2], 10, 64)
			haveSummary = true
		}
	}
	return entries, free, total, haveSummary
}

func (s *UserStore) ls(ctx context.Context, rel string, recursive bool) ([]lsEntry, error) {
	args := []string{s.url(rel)}
	if recursive {
		args = append([]string{"-R"}, args...)
	}
	out, err := s.run(ctx, "nfs-ls", args...)
	if err != nil {
		return nil, s.errorf("list %s: %v", rel, err)
	}
	entries, _, _, _ := parseNFSLs(string(out))
	return entries, nil
}

// Activate checks that the export answers and creates the directories
// of the configured content (unless create-subdirs says no).
func (s *UserStore) Activate(ctx context.Context) error {
	if _, err := s.Status(ctx); err != nil {
		return err
	}
	if !s.mkdirs {
		return nil
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, ct := range storage.AllContent {
		if !s.layout.Holds(ct) || ct == storage.Rootdir {
			continue
		}
		d, _ := s.layout.ContentDir(ct)
		if d = strings.TrimPrefix(d, "/"); d == "" {
			continue
		}
		if err := c.MkdirAll(ctx, d, 0o755); err != nil {
			return s.errorf("unable to create the %s directory: %v", ct, err)
		}
	}
	return nil
}

// Deactivate has nothing to undo: nothing is mounted.
func (s *UserStore) Deactivate(ctx context.Context) error { return nil }

// Status asks the server for the space of the export (nfs-ls -s). A
// server that does not answer makes the storage inactive, and the error
// (matching netfs.ErrOffline) says why.
func (s *UserStore) Status(ctx context.Context) (storage.Status, error) {
	cctx, cancel := context.WithTimeout(ctx, netfs.CheckTimeout)
	defer cancel()
	out, err := s.run(cctx, "nfs-ls", "-s", s.url(""))
	if err != nil {
		return storage.Status{}, &netfs.OfflineError{Storage: s.cfg.ID,
			Err: fmt.Errorf("NFS server %s does not answer for %s: %w", s.server, s.exportPath(), err)}
	}
	_, free, total, ok := parseNFSLs(string(out))
	if !ok {
		return storage.Status{}, s.errorf("nfs-ls printed no space summary: %q", out)
	}
	return storage.Status{Active: true, Total: total, Avail: free, Used: total - free}, nil
}

// List lists volumes: images from the image directory, other content
// from its directory. nfs-ls prints no file times, so only backups (whose
// names hold the time) have a creation time, and backup notes are not
// read.
func (s *UserStore) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	want := func(c storage.Content) bool {
		return s.layout.Holds(c) && (len(content) == 0 || slices.Contains(content, c))
	}
	var out []storage.Volume
	if want(storage.Images) {
		vols, err := s.listImages(ctx, vmid)
		if err != nil {
			return nil, err
		}
		out = append(out, vols...)
	}
	for _, c := range []storage.Content{storage.ISO, storage.VZTmpl, storage.Backup, storage.Snippets, storage.Import} {
		if !want(c) || (vmid != 0 && c != storage.Backup) {
			continue
		}
		d, _ := s.layout.ContentDir(c)
		entries, err := s.ls(ctx, strings.TrimPrefix(d, "/"), false)
		if err != nil {
			return nil, err
		}
		names := map[string]bool{}
		for _, e := range entries {
			names[e.Name] = true
		}
		for _, e := range entries {
			v, err := storage.ParseFileVolname(storage.FileVolname(storage.Vol{Content: c, Name: e.Name}))
			if e.Dir || err != nil || v.Content != c || (vmid != 0 && v.VMID != vmid) ||
				(c == storage.Backup && !backupArchiveRE.MatchString(e.Name)) {
				continue
			}
			vol := storage.Volume{Volname: storage.FileVolname(v), Content: c, Format: v.Format,
				Size: e.Size, Used: e.Size, VMID: v.VMID}
			if c == storage.Backup {
				vol.CTime = backupTime(e.Name)
				vol.Protected = names[e.Name+".protected"]
			}
			out = append(out, vol)
		}
	}
	storage.SortVolumes(out)
	return out, nil
}

func (s *UserStore) listImages(ctx context.Context, vmid int) ([]storage.Volume, error) {
	d, _ := s.layout.ContentDir(storage.Images)
	base := strings.TrimPrefix(d, "/")
	entries, err := s.ls(ctx, base, true)
	if err != nil {
		return nil, err
	}
	var out []storage.Volume
	for _, e := range entries {
		owner, name, ok := strings.Cut(e.Name, "/")
		if e.Dir || !ok || strings.Contains(name, "/") {
			continue
		}
		v, err := storage.ParseFileVolname(owner + "/" + name)
		if err != nil || v.Content != storage.Images || (vmid != 0 && v.VMID != vmid) {
			continue
		}
		vol, err := s.imageVolume(ctx, v)
		if err != nil {
			if s.env.Log != nil {
				s.env.Log.Warn("skipping image in listing", "storage", s.cfg.ID, "volume", owner+"/"+name, "error", err)
			}
			continue
		}
		out = append(out, vol)
	}
	return out, nil
}

// backupArchiveRE matches the archives vzdump writes, leaving out their
// logs, notes and protection markers.
var backupArchiveRE = regexp.MustCompile(`\.(tgz|tar|tar\.(gz|lzo|zst|bz2|xz)|vma|vma\.(gz|lzo|zst))$`)

// backupTimeRE finds the time in a vzdump archive name.
var backupTimeRE = regexp.MustCompile(`-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.`)

// backupTime is when a backup was made, from its name: vzdump names
// archives in the node's local time. nfs-ls prints no file times.
func backupTime(name string) int64 {
	m := backupTimeRE.FindStringSubmatch(name)
	if m == nil {
		return 0
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(m[1+i])
	}
	return time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.Local).Unix()
}

var backingRE = regexp.MustCompile(`^\.\./([1-9][0-9]*)/([^/]+)$`)

// imageVolume describes an image from qemu-img info; the base of a
// linked clone comes from its backing file name.
func (s *UserStore) imageVolume(ctx context.Context, v storage.Vol) (storage.Volume, error) {
	rel, _, err := s.rel(storage.FileVolname(v))
	if err != nil {
		return storage.Volume{}, err
	}
	info, err := s.imgInfo(ctx, rel, v.Format)
	if err != nil {
		return storage.Volume{}, err
	}
	vol := storage.Volume{Volname: storage.FileVolname(v), Content: v.Content, Format: v.Format, VMID: v.VMID,
		Size: info.VirtualSize, Used: info.ActualSize}
	if m := backingRE.FindStringSubmatch(info.Backing); m != nil {
		id, _ := strconv.Atoi(m[1])
		withBase := v
		withBase.Base, withBase.BaseVMID = m[2], id
		// Only a base with a proper volume name makes a linked clone.
		if _, err := storage.ParseFileVolname(storage.FileVolname(withBase)); err == nil {
			vol.Parent = m[1] + "/" + m[2]
			if v.Base == "" {
				vol.Volname = storage.FileVolname(withBase)
			}
		}
	}
	return vol, nil
}

func (s *UserStore) imgInfo(ctx context.Context, rel, format string) (dir.ImageInfo, error) {
	out, err := s.run(ctx, "qemu-img", "info", "--output=json", "-f", format, s.url(rel))
	if err != nil {
		return dir.ImageInfo{}, s.errorf("read image information of %s: %v", rel, err)
	}
	var info dir.ImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return dir.ImageInfo{}, s.errorf("parse qemu-img info of %s: %v", rel, err)
	}
	return info, nil
}

// exists reports whether the file of a volume is there.
func (s *UserStore) exists(ctx context.Context, c *nfs3.Client, rel, volname string) error {
	if _, err := c.Stat(ctx, rel); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.errorf("volume %s does not exist", volname)
		}
		return s.errorf("%s: %v", volname, err)
	}
	return nil
}

// Volume reports one volume.
func (s *UserStore) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	rel, v, err := s.rel(volname)
	if err != nil {
		return storage.Volume{}, err
	}
	c, err := s.client(ctx)
	if err != nil {
		return storage.Volume{}, err
	}
	defer c.Close()
	a, err := c.Stat(ctx, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return storage.Volume{}, s.errorf("volume %s does not exist", volname)
		}
		return storage.Volume{}, s.errorf("%s: %v", volname, err)
	}
	if v.Content != storage.Images {
		return storage.Volume{Volname: volname, Content: v.Content, Format: v.Format, Size: a.Size,
			Used: a.Used, VMID: v.VMID, CTime: a.CTime.Unix()}, nil
	}
	vol, err := s.imageVolume(ctx, v)
	if err != nil {
		return vol, err
	}
	vol.Volname, vol.CTime = volname, a.CTime.Unix()
	return vol, nil
}
