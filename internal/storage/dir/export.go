package dir

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// tarFlags are the tar options of container volume streams: keep owners
// as numbers, permissions, ACLs, the extended attributes containers need,
// and holes, and stay on the one file system.
func tarFlags() []string {
	return []string{"--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
		"--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored", "--warning=no-xattr-write"}
}

// ExportFormats lists the stream formats of a volume, the preferred
// first: a qcow2 or vmdk file travels whole (with its snapshots), raw
// data travels as raw+size, a subvolume as tar+size.
func (s *Store) ExportFormats(ctx context.Context, volname string) []string {
	_, v, err := s.Path(volname)
	if err != nil || (v.Content != storage.Images && v.Content != storage.Rootdir) {
		return nil
	}
	switch v.Format {
	case "raw":
		return []string{"raw+size"}
	case "qcow2", "vmdk":
		return []string{v.Format + "+size", "raw+size"}
	case "subvol":
		return []string{"tar+size"}
	}
	return nil
}

// Export streams a volume in format. snap selects an internal qcow2
// snapshot for raw+size; qcow2+size and vmdk+size carry every snapshot.
func (s *Store) Export(ctx context.Context, volname, format, snap string, w io.Writer) error {
	path, v, err := s.Path(volname)
	if err != nil {
		return err
	}
	vol, err := s.Volume(ctx, volname)
	if err != nil {
		return err
	}
	if err := s.ExportPath(ctx, path, v.Format, vol.Size, format, snap, w); err != nil {
		return s.errorf("export %s as %s: %v", volname, format, err)
	}
	return nil
}

// ExportPath streams the image file or directory at path, holding
// fileFormat data of size bytes, in format: the size as a little-endian
// uint64, then the data.
func (s *Store) ExportPath(ctx context.Context, path, fileFormat string, size int64, format, snap string, w io.Writer) error {
	switch {
	case format == "raw+size" && fileFormat == "raw" && snap == "":
		return copyFileOut(path, size, w)
	case format == "raw+size" && fileFormat != "subvol":
		if snap != "" && fileFormat != "qcow2" {
			return fmt.Errorf("%s files have no snapshots", fileFormat)
		}
		// qemu-img cannot write raw data to a pipe, so convert into a
		// sparse file beside the image and stream that.
		tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*.raw")
		if err != nil {
			return err
		}
		tmpName := tmp.Name()
		_ = tmp.Close()
		defer os.Remove(tmpName)
		args := []string{"convert", "-f", fileFormat, "-O", "raw"}
		if snap != "" {
			args = append(args, "-l", "snapshot.name="+snap)
		}
		if _, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: append(args, path, tmpName)}); err != nil {
			return err
		}
		return copyFileOut(tmpName, size, w)
	case (format == "qcow2+size" || format == "vmdk+size") && format == fileFormat+"+size":
		if snap != "" {
			return fmt.Errorf("%s streams carry the whole file with all snapshots; no snapshot can be chosen", format)
		}
		return copyFileOut(path, size, w)
	case format == "tar+size" && fileFormat == "subvol":
		if snap != "" {
			return fmt.Errorf("subvolumes have no snapshots on this storage")
		}
		return s.TarOut(ctx, path, w)
	}
	return fmt.Errorf("format %s is not available for a %s volume", format, fileFormat)
}

func copyFileOut(path string, size int64, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := WriteHeader(w, size); err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// TarOut writes a tar+size stream of the directory dir.
func (s *Store) TarOut(ctx context.Context, dir string, w io.Writer) error {
	if err := WriteHeader(w, 0); err != nil {
		return err
	}
	args := append(tarFlags(), "-cf", "-", "-C", dir, ".")
	_, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "tar", Args: args, Stdout: w})
	return err
}

// TarIn unpacks a tar stream (after its header) into the directory dir.
func (s *Store) TarIn(ctx context.Context, dir string, r io.Reader) error {
	args := append(tarFlags(), "-C", dir, "-xf", "-")
	_, err := s.env.Runner.Run(ctx, runner.Cmd{Name: "tar", Args: args, Stdin: r})
	return err
}

// WriteHeader writes the size that starts every +size stream.
func WriteHeader(w io.Writer, size int64) error {
	var h [8]byte
	binary.LittleEndian.PutUint64(h[:], uint64(size))
	_, err := w.Write(h[:])
	return err
}

// ReadHeader reads the size that starts every +size stream.
func ReadHeader(r io.Reader) (int64, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("read the stream's size header: %w", err)
	}
	n := binary.LittleEndian.Uint64(h[:])
	if n > 1<<60 {
		return 0, fmt.Errorf("stream announces an implausible size of %d bytes", n)
	}
	return int64(n), nil
}

// WriteSparse copies r into f from its start, skipping blocks of zeros
// so they stay holes, and sets the file's length to what was copied.
func WriteSparse(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			chunk := buf[:n]
			if !allZero(chunk) {
				if _, werr := f.WriteAt(chunk, off); werr != nil {
					return off, werr
				}
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return off, err
		}
	}
	return off, f.Truncate(off)
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	return len(bytes.Trim(b, "\x00")) == 0
}

// ParseStreamFormat splits "raw+size" into the data format and the file
// format it imports into.
func ParseStreamFormat(format string) (data, file string, err error) {
	data, ok := strings.CutSuffix(format, "+size")
	switch {
	case !ok:
	case data == "raw" || data == "qcow2" || data == "vmdk":
		return data, data, nil
	case data == "tar":
		return data, "subvol", nil
	}
	return "", "", fmt.Errorf("unknown import format %q: expected raw+size, qcow2+size, vmdk+size or tar+size", format)
}

// Import creates a new volume of vmid from a stream. name "" picks the
// next free name; an existing name is refused. A failed import leaves
// nothing behind.
func (s *Store) Import(ctx context.Context, r io.Reader, vmid int, name, format string) (string, error) {
	data, file, err := ParseStreamFormat(format)
	if err != nil {
		return "", s.errorf("%v", err)
	}
	size, err := ReadHeader(r)
	if err != nil {
		return "", s.errorf("import: %v", err)
	}
	return s.CreateImage(vmid, name, file, file == "subvol", nil, func(path string) error {
		if file == "subvol" {
			if err := s.TarIn(ctx, path, r); err != nil {
				return s.errorf("import into %s: %v", path, err)
			}
			return nil
		}
		if err := ImportFile(path, r, data, size); err != nil {
			return s.errorf("import into %s: %v", path, err)
		}
		if _, err := s.QemuImgInfo(ctx, path, file); err != nil {
			return s.errorf("imported data is not a valid %s image: %v", file, err)
		}
		return nil
	})
}

// ImportFile writes the data of a +size stream into the (new, empty)
// file at path: raw data must fill the announced size, which the file
// then has; a qcow2 or vmdk stream is the image file itself.
func ImportFile(path string, r io.Reader, data string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if data == "raw" {
		r = io.LimitReader(r, size)
	}
	n, err := WriteSparse(f, r)
	if err != nil {
		return err
	}
	if data == "raw" && n != size {
		return fmt.Errorf("stream ended after %d of %d bytes", n, size)
	}
	return f.Sync()
}
