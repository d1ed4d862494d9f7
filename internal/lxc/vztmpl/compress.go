package vztmpl

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/atomicfile"
)

// Compressions Detect reports.
const (
	CompressionNone  = "none"
	CompressionGzip  = "gzip"
	CompressionXz    = "xz"
	CompressionZstd  = "zstd"
	CompressionBzip2 = "bzip2"
)

// suffixes maps archive name endings to their compression, longest
// first so that ".tar.gz" wins over ".tar".
var suffixes = []struct{ suffix, compression string }{
	{".tar.gz", CompressionGzip},
	{".tar.xz", CompressionXz},
	{".tar.zst", CompressionZstd},
	{".tar.bz2", CompressionBzip2},
	{".tgz", CompressionGzip},
	{".tar", CompressionNone},
}

// magics are the first bytes of each compressed format.
var magics = []struct {
	magic       []byte
	compression string
}{
	{[]byte{0x1f, 0x8b}, CompressionGzip},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, CompressionXz},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, CompressionZstd},
	{[]byte("BZh"), CompressionBzip2},
}

// decompressors are the tools that undo each compression onto stdout.
var decompressors = map[string][]string{
	CompressionGzip:  {"gzip", "-d", "-c"},
	CompressionXz:    {"xz", "-d", "-c", "-T0"},
	CompressionZstd:  {"zstd", "-d", "-c", "-q"},
	CompressionBzip2: {"bzip2", "-d", "-c"},
}

// Detect tells how a template archive is compressed. The name must end
// in .tar.gz, .tgz, .tar.xz, .tar.zst, .tar.bz2 or .tar, and the first
// bytes of the file must agree with it.
func Detect(archive string) (string, error) {
	byName := compressionByName(archive)
	if byName == "" {
		return "", fmt.Errorf("template %s: the name must end in .tar.gz, .tgz, .tar.xz, .tar.zst, .tar.bz2 or .tar", filepath.Base(archive))
	}
	f, err := os.Open(archive)
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("template %s: %w", archive, err)
	}
	byMagic := compressionByMagic(head[:n])
	if byMagic != byName {
		what := byMagic
		if what == "" {
			what = "neither a tar archive nor a compression format this node knows"
		} else if what == CompressionNone {
			what = "an uncompressed tar archive"
		} else {
			what = what + " data"
		}
		return "", fmt.Errorf("template %s: the name says %s, but the file holds %s", filepath.Base(archive), describe(byName), what)
	}
	return byName, nil
}

func describe(compression string) string {
	if compression == CompressionNone {
		return "an uncompressed tar archive"
	}
	return "a " + compression + "-compressed tar archive"
}

func compressionByName(name string) string {
	name = filepath.Base(name)
	for _, s := range suffixes {
		if strings.HasSuffix(name, s.suffix) && len(name) > len(s.suffix) {
			return s.compression
		}
	}
	return ""
}

// compressionByMagic names the compression the first bytes show;
// CompressionNone for a tar header, "" for anything else.
func compressionByMagic(head []byte) string {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.compression
		}
	}
	// POSIX and GNU tar headers both have "ustar" at offset 257.
	if len(head) >= 262 && string(head[257:262]) == "ustar" {
		return CompressionNone
	}
	return ""
}

func haveZstd() bool {
	_, err := exec.LookPath("zstd")
	return err == nil
}

// compressTo writes the tar stream that produce makes into dst,
// compressed as suffix says (.tar.zst through the zstd tool with
// zstdArgs, .tar.gz in Go). Both give the same bytes for the same input.
func compressTo(ctx context.Context, dst io.Writer, suffix string, zstdArgs []string, produce func(io.Writer) error) error {
	switch suffix {
	case ".tar.gz":
		gz, err := gzip.NewWriterLevel(dst, gzip.BestCompression)
		if err != nil {
			return err
		}
		if err := produce(gz); err != nil {
			return err
		}
		return gz.Close()
	case ".tar.zst":
	default:
		return fmt.Errorf("cannot write %s archives", suffix)
	}
	args := append([]string{"-q", "-c"}, zstdArgs...)
	cmd := exec.CommandContext(ctx, "zstd", args...)
	cmd.Stdout = dst
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return commandError(ctx, cmd, err, "")
	}
	perr := produce(in)
	in.Close()
	werr := cmd.Wait()
	if werr != nil {
		return commandError(ctx, cmd, werr, stderr.String())
	}
	return perr
}

// writeArchive writes entries as a compressed tar stream to w. zstd's
// default level: level 19 would save 150 kB of busybox's 1.1 MB for a
// second of CPU per build. One thread keeps the output the same on
// every machine.
func writeArchive(ctx context.Context, w io.Writer, entries []entry, mtime time.Time, suffix string) error {
	return compressTo(ctx, w, suffix, []string{"-T1"}, func(tw io.Writer) error {
		return writeTar(tar.NewWriter(tw), entries, mtime)
	})
}

// writeAtomically creates dir/name through a hidden temporary file that
// write fills, so that a reader (or a storage listing) never sees a
// half-written archive under its final name.
func writeAtomically(dir, name string, write func(*os.File) error) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-")
	if err != nil {
		return fmt.Errorf("create template file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("put template in place: %w", err)
	}
	return atomicfile.SyncDir(dir)
}
