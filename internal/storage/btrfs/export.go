package btrfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage/dir"
)

// ExportFormats lists raw+size (raw images) or tar+size (subvolumes),
// which any storage can import, then btrfs, a send stream for another
// btrfs storage.
func (s *Store) ExportFormats(ctx context.Context, volname string) []string {
	v, _, ours, err := s.image(volname)
	if err != nil {
		return nil
	}
	if !ours {
		return s.Store.ExportFormats(ctx, volname)
	}
	if v.Format == "raw" {
		return []string{"raw+size", "btrfs"}
	}
	return []string{"tar+size", "btrfs"}
}

// Export streams a volume, or its snapshot snap. A btrfs stream of the
// current state is sent from a temporary read-only snapshot, since btrfs
// sends only read-only subvolumes.
func (s *Store) Export(ctx context.Context, volname, format, snap string, w io.Writer) error {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return err
	}
	if !ours {
		return s.Store.Export(ctx, volname, format, snap, w)
	}
	src := sub
	if snap != "" {
		if err := dir.CheckSnapName(snap); err != nil {
			return s.errorf("%v", err)
		}
		src = snapPath(sub, snap)
	}
	if !exists(dataPath(src, v)) {
		if snap != "" {
			return s.errorf("cannot export %s: it has no snapshot %s", volname, snap)
		}
		return s.errorf("volume %s does not exist", volname)
	}
	switch {
	case format == "raw+size" && v.Format == "raw":
		file := dataPath(src, v)
		st, err := os.Stat(file)
		if err != nil {
			return s.errorf("export %s: %v", volname, err)
		}
		err = s.ExportPath(ctx, file, "raw", st.Size(), format, "", w)
		if err != nil {
			return s.errorf("export %s as %s: %v", volname, format, err)
		}
		return nil
	case format == "tar+size" && v.Format == "subvol":
		if err := s.TarOut(ctx, src, w); err != nil {
			return s.errorf("export %s as %s: %v", volname, format, err)
		}
		return nil
	case format == "btrfs":
		if snap == "" {
			tmp := snapPath(sub, "__export_"+randomHex()+"__")
			if err := s.btrfs(ctx, "subvolume", "snapshot", "-r", "--", sub, tmp); err != nil {
				return s.errorf("export %s: take a read-only snapshot to send: %v", volname, err)
			}
			defer func() {
				if err := s.btrfs(context.WithoutCancel(ctx), "subvolume", "delete", "--", tmp); err != nil {
					s.warn("could not remove an export's snapshot", "subvolume", tmp, "error", err)
				}
			}()
			src = tmp
		}
		if _, err := s.run.Run(ctx, runner.Cmd{Name: "btrfs", Args: []string{"-q", "send", "-e", "--", src}, Stdout: w}); err != nil {
			return s.errorf("export %s as btrfs stream: %v", volname, err)
		}
		return nil
	}
	return s.errorf("export %s: format %s is not available for a %s volume", volname, format, v.Format)
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Import creates a volume of vmid from a stream: raw+size into a new raw
// image, tar+size into a new subvolume, or a btrfs send stream of either.
func (s *Store) Import(ctx context.Context, r io.Reader, vmid int, name, format string) (string, error) {
	switch format {
	case "raw+size":
		size, err := dir.ReadHeader(r)
		if err != nil {
			return "", s.errorf("import: %v", err)
		}
		return s.create(ctx, vmid, name, "raw", s.mkSubvol(ctx), func(sub string) error {
			file := filepath.Join(sub, "disk.raw")
			if err := s.createRaw(file, 0); err != nil {
				return err
			}
			if err := dir.ImportFile(file, r, "raw", size); err != nil {
				return s.errorf("import into %s: %v", file, err)
			}
			return nil
		})
	case "tar+size":
		if _, err := dir.ReadHeader(r); err != nil {
			return "", s.errorf("import: %v", err)
		}
		return s.create(ctx, vmid, name, "subvol", s.mkSubvol(ctx), func(sub string) error {
			if err := s.TarIn(ctx, sub, r); err != nil {
				return s.errorf("import into %s: %v", sub, err)
			}
			return nil
		})
	case "btrfs":
		return s.importStream(ctx, r, vmid, name)
	}
	return "", s.errorf("unknown import format %q: expected raw+size, tar+size or btrfs", format)
}

// importStream receives a send stream into a hidden directory of the
// guest, then makes the new volume a writable snapshot of what arrived
// (received subvolumes are read-only) and removes the received copy.
// Without a name, the stream's content says whether it is a raw image
// (a subvolume holding only disk.raw) or a subvolume.
func (s *Store) importStream(ctx context.Context, r io.Reader, vmid int, name string) (string, error) {
	format := ""
	switch {
	case name == "":
	case strings.HasSuffix(name, ".raw"):
		format = "raw"
	case strings.HasSuffix(name, ".subvol"):
		format = "subvol"
	default:
		return "", s.errorf("cannot import a btrfs stream as %q: the name must end in .raw or .subvol", name)
	}
	if format != "" {
		if _, err := dir.ImageName(nil, vmid, name, format); err != nil {
			return "", s.errorf("%v", err)
		}
	}
	imgDir := s.ImageDir(vmid)
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return "", s.errorf("create the image directory of guest %d: %v", vmid, err)
	}
	tmp, err := os.MkdirTemp(imgDir, ".recv-")
	if err != nil {
		return "", s.errorf("import: %v", err)
	}
	defer s.removeReceived(tmp)
	if _, err := s.run.Run(ctx, runner.Cmd{Name: "btrfs", Args: []string{"-q", "receive", "-e", "--", tmp}, Stdin: r}); err != nil {
		return "", s.errorf("import of a btrfs stream for guest %d: %v", vmid, err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil || len(entries) != 1 {
		return "", s.errorf("import of a btrfs stream for guest %d: expected exactly one subvolume in the stream, found %d", vmid, len(entries))
	}
	recv := filepath.Join(tmp, entries[0].Name())
	inside, _ := os.ReadDir(recv)
	isRaw := len(inside) == 1 && inside[0].Name() == "disk.raw" && inside[0].Type().IsRegular()
	switch {
	case format == "":
		format = "subvol"
		if isRaw {
			format = "raw"
		}
	case format == "raw" && !isRaw:
		return "", s.errorf("cannot import %s: the stream holds no raw image (a subvolume with only disk.raw)", name)
	}
	return s.create(ctx, vmid, name, format, func(dst string) error {
		return s.btrfs(ctx, "subvolume", "snapshot", "--", recv, dst)
	}, nil)
}

// removeReceived deletes what a receive left in its directory, then the
// directory.
func (s *Store) removeReceived(tmp string) {
	ctx := context.Background()
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		p := filepath.Join(tmp, e.Name())
		if err := s.btrfs(ctx, "subvolume", "delete", "--", p); err != nil {
			_ = os.RemoveAll(p)
		}
	}
	if err := os.Remove(tmp); err != nil {
		s.warn("could not remove a receive directory", "directory", tmp, "error", fmt.Sprint(err))
	}
}
