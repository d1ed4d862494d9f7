package zfspool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
)

// ExportFormats: every volume streams as a zfs replication stream of a
// snapshot; zvols also as raw+size.
func (s *Storage) ExportFormats(ctx context.Context, volname string) []string {
	v, err := ParseVolname(volname)
	if err != nil {
		return nil
	}
	if v.Format == "raw" {
		return []string{"zfs", "raw+size"}
	}
	return []string{"zfs"}
}

// Export writes a volume. "zfs" sends a replication stream of snapshot
// snap (with its properties and earlier snapshots), which a zfs storage
// receives as it is; "raw+size" writes a zvol's size as a little-endian
// uint64, then its bytes.
func (s *Storage) Export(ctx context.Context, volname, format, snap string, w io.Writer) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("export", volname, err)
	}
	if snap != "" {
		if err := CheckSnapshotName(snap); err != nil {
			return s.fail("export", volname, err)
		}
	}
	switch {
	case format == "zfs":
		if snap == "" {
			return s.fail("export", volname, errors.New("a zfs stream is sent from a snapshot; name one"))
		}
		if _, err := s.r.Run(ctx, runner.Cmd{Name: "zfs", Args: []string{"send", "-Rpv", "--", s.dataset(v) + "@" + snap}, Stdout: w}); err != nil {
			return s.fail("export", volname, err)
		}
		return nil
	case format == "raw+size" && v.Format == "raw":
		if snap != "" {
			return s.fail("export", volname, errors.New("raw+size exports the current state; use the zfs format for snapshots"))
		}
		out, err := s.zfs(ctx, GetArgs(s.dataset(v), "volsize")...)
		if err != nil {
			return s.fail("export", volname, err)
		}
		n, err := ParseNumbers(out, 1)
		if err != nil {
			return s.fail("export", volname, err)
		}
		p := s.zvolPath(v)
		if err := s.waitDev(ctx, p); err != nil {
			return s.fail("export", volname, err)
		}
		var hdr [8]byte
		binary.LittleEndian.PutUint64(hdr[:], uint64(n[0]))
		if _, err := w.Write(hdr[:]); err != nil {
			return s.fail("export", volname, err)
		}
		if _, err := s.r.Run(ctx, runner.Cmd{Name: "dd", Args: []string{"if=" + p, "bs=64k", "status=progress"}, Stdout: w}); err != nil {
			return s.fail("export", volname, err)
		}
		return nil
	}
	return s.fail("export", volname, fmt.Errorf("unsupported export format %q for a %s volume", format, v.Format))
}

// Import receives a volume. A "zfs" stream needs the volume's name (it
// carries none); it is received into a new dataset, which is
// destroyed again if the receive fails. A "raw+size" stream becomes a
// new zvol. An existing volume is never overwritten.
func (s *Storage) Import(ctx context.Context, r io.Reader, vmid int, name, format string) (string, error) {
	switch format {
	case "zfs":
		if name == "" {
			return "", s.fail("import", name, errors.New("a zfs stream is received under the name of the volume it was sent from; give one"))
		}
		v, err := ParseVolname(name)
		if err != nil {
			return "", s.fail("import", name, err)
		}
		if v.VMID != vmid {
			return "", s.fail("import", name, fmt.Errorf("the volume belongs to guest %d, not %d", v.VMID, vmid))
		}
		// a linked clone arrives as a volume of its own, as in Proxmox VE
		v.Base, v.BaseVMID = "", 0
		if s.exists(ctx, s.dataset(v)) {
			return "", s.fail("import", name, errors.New("the volume already exists"))
		}
		if _, err := s.r.Run(ctx, runner.Cmd{Name: "zfs", Args: []string{"recv", "-F", "--", s.dataset(v)}, Stdin: r}); err != nil {
			err = s.fail("import", name, err)
			if _, derr := s.zfs(ctx, "destroy", "-r", "--", s.dataset(v)); derr != nil && !notExist(derr) {
				err = errors.Join(err, derr)
			}
			return "", err
		}
		return v.Name, nil
	case "raw+size":
		if name != "" {
			if err := checkNewName(name, vmid, "raw"); err != nil {
				return "", s.fail("import", name, err)
			}
		}
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return "", s.fail("import", name, fmt.Errorf("reading the size header of the stream: %w", err))
		}
		size := binary.LittleEndian.Uint64(hdr[:])
		if size == 0 || size > 1<<62 {
			return "", s.fail("import", name, fmt.Errorf("the stream announces an invalid size of %d bytes", size))
		}
		name, err := s.Alloc(ctx, vmid, name, "raw", int64(size))
		if err != nil {
			return "", err
		}
		v, _ := ParseVolname(name)
		if _, err := s.r.Run(ctx, runner.Cmd{Name: "dd", Args: []string{"of=" + s.zvolPath(v), "conv=sparse", "bs=64k"}, Stdin: r}); err != nil {
			err = s.fail("import into", name, err)
			if ferr := s.destroy(ctx, v); ferr != nil {
				err = errors.Join(err, ferr)
			}
			return "", err
		}
		return name, nil
	}
	return "", s.fail("import", name, fmt.Errorf("unsupported import format %q (zfspool imports zfs and raw+size)", format))
}

func notExist(err error) bool {
	return strings.Contains(exitStderr(err), "dataset does not exist")
}
