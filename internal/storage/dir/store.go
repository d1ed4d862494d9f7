package dir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Store is a storage kept as files below one directory, with Proxmox
// VE's layout. The dir type is a Store on its path; network file systems
// and btrfs use one on their mount point.
type Store struct {
	cfg  storage.Config
	env  storage.Env
	root string

	content       []storage.Content
	subdirs       map[storage.Content]string // relative to root
	defaultFormat string
	prealloc      string // "" when not configured
	mountpoint    string // is_mountpoint: the path that must be mounted, "" for none
	mkBase        bool
	mkSubdirs     bool
	maxProtected  int // -1: no limit configured
	// mountinfo is the mount table read for is_mountpoint; tests point it
	// at a fixture.
	mountinfo string
}

// defaultSubdirs is where each content type lives below the root.
// Containers' volumes live in images/ like disks; private/ is kept only
// because Proxmox VE still creates it for the rootdir content type.
func defaultSubdirs() map[storage.Content]string {
	return map[storage.Content]string{
		storage.Images:   "images",
		storage.Rootdir:  "private",
		storage.ISO:      "template/iso",
		storage.VZTmpl:   "template/cache",
		storage.Backup:   "dump",
		storage.Snippets: "snippets",
		storage.Import:   "import",
	}
}

// NewStore makes the file store of cfg below root. It reads the file
// storage options it finds in cfg (content, content-dirs, format,
// preallocation, is_mountpoint, mkdir, create-base-path,
// create-subdirs, max-protected-backups) and touches nothing on the host.
func NewStore(cfg storage.Config, env storage.Env, root string) (*Store, error) {
	if env.Runner == nil {
		env.Runner = runner.Exec{}
	}
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("storage '%s': path %q is not absolute", cfg.ID, root)
	}
	s := &Store{cfg: cfg, env: env, root: filepath.Clean(root), defaultFormat: "raw",
		maxProtected: -1, mountinfo: "/proc/self/mountinfo"}
	s.content = cfg.Content
	if v, ok := cfg.Get("content"); ok && strings.TrimSpace(v) == "none" {
		s.content = []storage.Content{}
	} else if s.content == nil {
		s.content = []storage.Content{storage.Images, storage.Rootdir}
	}
	var err error
	if s.subdirs, err = parseContentDirs(cfg.Props["content-dirs"]); err != nil {
		return nil, fmt.Errorf("storage '%s': %w", cfg.ID, err)
	}
	if v, ok := cfg.Get("format"); ok {
		if !slices.Contains(storage.ImageFormats, v) {
			return nil, fmt.Errorf("storage '%s': unknown image format %q", cfg.ID, v)
		}
		s.defaultFormat = v
	}
	if v, ok := cfg.Get("preallocation"); ok {
		if !slices.Contains([]string{"off", "metadata", "falloc", "full"}, v) {
			return nil, fmt.Errorf("storage '%s': preallocation %q is not one of off, metadata, falloc, full", cfg.ID, v)
		}
		s.prealloc = v
	}
	if v, ok := cfg.Get("is_mountpoint"); ok {
		if s.mountpoint, err = parseIsMountpoint(v, s.root); err != nil {
			return nil, fmt.Errorf("storage '%s': %w", cfg.ID, err)
		}
	}
	// The deprecated mkdir stands in for both newer options when they
	// are not given, as Proxmox VE reads them.
	mkdir := true
	if v, ok := cfg.Get("mkdir"); ok {
		if mkdir, err = parseBool(v); err != nil {
			return nil, fmt.Errorf("storage '%s': mkdir: %w", cfg.ID, err)
		}
	}
	s.mkBase, s.mkSubdirs = mkdir, mkdir
	for key, dst := range map[string]*bool{"create-base-path": &s.mkBase, "create-subdirs": &s.mkSubdirs} {
		if v, ok := cfg.Get(key); ok {
			if *dst, err = parseBool(v); err != nil {
				return nil, fmt.Errorf("storage '%s': %s: %w", cfg.ID, key, err)
			}
		}
	}
	if v, ok := cfg.Get("max-protected-backups"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("storage '%s': max-protected-backups %q is not an integer >= -1", cfg.ID, v)
		}
		s.maxProtected = n
	}
	return s, nil
}

// parseContentDirs reads content-dirs ("iso=isos,backup=custom/dumps").
func parseContentDirs(v string) (map[storage.Content]string, error) {
	out := defaultSubdirs()
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for _, item := range strings.Split(v, ",") {
		k, d, ok := strings.Cut(strings.TrimSpace(item), "=")
		c := storage.Content(k)
		if !ok || !slices.Contains(storage.AllContent, c) {
			return nil, fmt.Errorf("content-dirs: %q is not <content type>=<directory>", item)
		}
		clean := strings.Trim(filepath.Clean("/"+d), "/")
		for _, seg := range strings.Split(d, "/") {
			if seg == ".." {
				return nil, fmt.Errorf("content-dirs: directory %q of %s leaves the storage", d, k)
			}
		}
		out[c] = clean
	}
	return out, nil
}

// parseIsMountpoint reads is_mountpoint: a boolean (yes: the path itself
// must be a mount point) or the path that must be one.
func parseIsMountpoint(v, root string) (string, error) {
	if b, err := parseBool(v); err == nil {
		if b {
			return root, nil
		}
		return "", nil
	}
	if !filepath.IsAbs(v) {
		return "", fmt.Errorf("is_mountpoint %q is neither a boolean nor an absolute path", v)
	}
	return filepath.Clean(v), nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "on", "true":
		return true, nil
	case "0", "no", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v)
}

// Root is the base directory of the store.
func (s *Store) Root() string { return s.root }

// Config is the storage.cfg section the store was made from.
func (s *Store) Config() storage.Config { return s.cfg }

// Env is the node environment the store runs in.
func (s *Store) Env() storage.Env { return s.env }

// Holds reports whether the storage is configured to hold content c.
func (s *Store) Holds(c storage.Content) bool { return slices.Contains(s.content, c) }

// DefaultFormat is the image format of allocations that name none.
func (s *Store) DefaultFormat() string { return s.defaultFormat }

// ContentDir is the directory of a content type: its content-dirs
// override or the usual subdirectory.
func (s *Store) ContentDir(c storage.Content) (string, error) {
	d, ok := s.subdirs[c]
	if !ok {
		return "", fmt.Errorf("storage '%s': unknown content type %q", s.cfg.ID, c)
	}
	return filepath.Join(s.root, d), nil
}

// ImageDir is the directory of vmid's disk images and subvolumes.
func (s *Store) ImageDir(vmid int) string {
	return filepath.Join(s.root, s.subdirs[storage.Images], strconv.Itoa(vmid))
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("storage '%s': "+format, append([]any{s.cfg.ID}, args...)...)
}

// Activate checks the mount point when is_mountpoint asks for one, then
// creates the path and the directories of the configured content types
// unless create-base-path or create-subdirs turn that off.
func (s *Store) Activate(ctx context.Context) error {
	if s.mountpoint != "" {
		ok, err := s.IsMounted(s.mountpoint)
		if err != nil {
			return s.errorf("%v", err)
		}
		if !ok {
			return s.errorf("unable to activate: directory '%s' is expected to be a mount point but nothing is mounted there", s.mountpoint)
		}
	}
	if s.mkBase {
		if err := os.MkdirAll(s.root, 0o755); err != nil {
			return s.errorf("unable to create the storage path: %v", err)
		}
	}
	if st, err := os.Stat(s.root); err != nil || !st.IsDir() {
		return s.errorf("unable to activate: directory '%s' does not exist or is unreachable", s.root)
	}
	if !s.mkSubdirs {
		return nil
	}
	for _, c := range storage.AllContent {
		// Containers were migrated through the dump directory, so it comes
		// with rootdir too.
		if !s.Holds(c) && (c != storage.Backup || !s.Holds(storage.Rootdir)) {
			continue
		}
		dir, _ := s.ContentDir(c)
		if dir == s.root {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return s.errorf("unable to create the %s directory: %v", c, err)
		}
	}
	return nil
}

// Deactivate does nothing: a directory stays where it is.
func (s *Store) Deactivate(ctx context.Context) error { return nil }

// Status reports the space of the file system holding the root; a
// storage whose mount point is not mounted, or whose path is missing, is
// inactive.
func (s *Store) Status(ctx context.Context) (storage.Status, error) {
	if s.mountpoint != "" {
		if ok, err := s.IsMounted(s.mountpoint); err != nil || !ok {
			return storage.Status{}, err
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.root, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return storage.Status{}, nil
		}
		return storage.Status{}, s.errorf("statfs %s: %v", s.root, err)
	}
	bs := int64(st.Bsize)
	return storage.Status{Active: true, Total: int64(st.Blocks) * bs,
		Avail: int64(st.Bavail) * bs, Used: int64(st.Blocks-st.Bfree) * bs}, nil
}

// IsMounted reports whether path (after resolving symbolic links) is a
// mount point in this node's mount table.
func (s *Store) IsMounted(path string) (bool, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	data, err := os.ReadFile(s.mountinfo)
	if err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	for _, mp := range parseMountinfo(string(data)) {
		if mp == real {
			return true, nil
		}
	}
	return false, nil
}

// parseMountinfo returns the mount points of /proc/self/mountinfo (the
// fifth field, with the kernel's octal escapes undone).
func parseMountinfo(data string) []string {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeOctal(f[4]))
	}
	return out
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
