package vztmpl

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// IDShift is the id map of an unprivileged container: ids 0..Size-1
// inside are UIDBase.. and GIDBase.. on the host (Proxmox VE's default
// is 100000 and 65536 for both).
type IDShift struct {
	UIDBase uint32
	GIDBase uint32
	Size    uint32
}

func (m *IDShift) validate() error {
	if m.Size == 0 {
		return errors.New("id map: the range size must be at least 1")
	}
	if uint64(m.UIDBase)+uint64(m.Size) > 1<<32-1 || uint64(m.GIDBase)+uint64(m.Size) > 1<<32-1 {
		return fmt.Errorf("id map: %d+%d or %d+%d goes past the largest id 4294967294", m.UIDBase, m.Size, m.GIDBase, m.Size)
	}
	return nil
}

// tarExtractArgs are GNU tar's options for unpacking a template from
// stdin into its working directory. Ownership and modes come from the
// archive by number (never through this host's user names); of the
// extended attributes, the user ones and file capabilities, which
// programs like ping rely on; ACLs too. /dev stays empty: LXC fills it
// at start, and an unprivileged container could not make the nodes.
var tarExtractArgs = []string{
	"-x", "-f", "-",
	"--same-owner", "--same-permissions", "--numeric-owner",
	"--xattrs", "--xattrs-include=user.*", "--xattrs-include=security.capability", "--acls",
	"--warning=no-xattr-write", "--warning=no-unknown-keyword",
	"--anchored", "--exclude=./dev/*", "--exclude=dev/*",
}

// Extract unpacks the template archive onto dest, a container's root
// file system (created if missing). With m nil the files keep the ids
// the archive gives them (a privileged container). With m set, GNU tar
// runs as root of a user namespace with that id map, as the container
// itself will: the kernel stores every owner, ACL entry and file
// capability already shifted, and tar's chmod after chown keeps setuid
// and setgid bits. Chowning in Go after a plain extraction would instead
// have to rewrite ACLs and capabilities itself and restore the bits each
// chown clears.
//
// Every member is checked before tar sees it: an absolute name, a ".."
// component, a member beneath a symlink of the archive, or (with m) an
// owner outside the map fails the extraction, leaving dest incomplete
// for the caller to remove.
func Extract(ctx context.Context, archive, dest string, m *IDShift, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if m != nil {
		if err := m.validate(); err != nil {
			return err
		}
	}
	compression, err := Detect(archive)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("extract template: %w", err)
	}
	if m != nil {
		// The namespace's root must own the top directory to write into it.
		if err := os.Lchown(dest, int(m.UIDBase), int(m.GIDBase)); err != nil {
			return fmt.Errorf("extract template: %w", err)
		}
	}
	src, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("extract template: %w", err)
	}
	defer src.Close()
	// Tar is handed dest as an open directory: with an id map its user
	// could not walk a private parent directory (such as a 0700 temporary
	// one) to reach dest by name.
	dir, err := os.Open(dest)
	if err != nil {
		return fmt.Errorf("extract template: %w", err)
	}
	defer dir.Close()
	logf("vztmpl: extracting %s (%s) into %s", filepath.Base(archive), compression, dest)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var stream io.Reader = bufio.NewReaderSize(src, 1<<20)
	var decomp *exec.Cmd
	var decompErr bytes.Buffer
	if argv, ok := decompressors[compression]; ok {
		decomp = exec.CommandContext(ctx, argv[0], argv[1:]...)
		decomp.Stdin = src
		decomp.Stderr = &decompErr
		out, err := decomp.StdoutPipe()
		if err != nil {
			return err
		}
		if err := decomp.Start(); err != nil {
			return fmt.Errorf("extract template: %w", commandError(ctx, decomp, err, ""))
		}
		stream = out
	}

	untar, stdin, tarErr, err := startTar(ctx, dir, m)
	if err != nil {
		if decomp != nil {
			cancel()
			decomp.Wait()
		}
		return err
	}
	gerr := gateMembers(stream, stdin, m)
	stdin.Close()
	var refusal *refusedError
	refused := errors.As(gerr, &refusal)
	tarGone := gerr != nil && isBrokenPipe(gerr)
	if refused {
		// Stop tar before it reads the cut-off stream and adds a
		// complaint of its own.
		cancel()
	}
	werr := untar.Wait()
	var derr error
	if decomp != nil {
		if refused || tarGone {
			// Nobody wants the rest.
			cancel()
		}
		// Let a decompressor that is still writing finish or fail.
		io.Copy(io.Discard, stream)
		derr = decomp.Wait()
	}
	name := filepath.Base(archive)
	switch {
	case refused:
		return fmt.Errorf("extract %s: %w", name, gerr)
	case tarGone && werr == nil:
		return fmt.Errorf("extract %s: tar stopped reading before the end: %w", name, gerr)
	case tarGone:
		return fmt.Errorf("extract %s: %w", name, commandError(ctx, untar, werr, tarErr.String()))
	case derr != nil:
		// A damaged compressed stream: the decompressor says why, tar
		// only that its input ended early.
		return fmt.Errorf("extract %s: %w", name, commandError(ctx, decomp, derr, decompErr.String()))
	case gerr != nil:
		return fmt.Errorf("extract %s: %w", name, gerr)
	case werr != nil:
		return fmt.Errorf("extract %s: %w", name, commandError(ctx, untar, werr, tarErr.String()))
	}
	if msg := strings.TrimSpace(tarErr.String()); msg != "" {
		logf("vztmpl: tar: %s", msg)
	}
	return nil
}

// startTar starts GNU tar reading an archive from the returned writer
// into dir; with m, in a new user namespace with that map.
func startTar(ctx context.Context, dir *os.File, m *IDShift) (*exec.Cmd, io.WriteCloser, *bytes.Buffer, error) {
	// fd 3 in tar is dir; /proc/self/fd/3 reaches it without a path walk.
	args := append(append([]string{}, tarExtractArgs...), "-C", "/proc/self/fd/3")
	cmd := exec.CommandContext(ctx, "tar", args...)
	cmd.ExtraFiles = []*os.File{dir}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if m != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:                 syscall.CLONE_NEWUSER,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.UIDBase), Size: int(m.Size)}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.GIDBase), Size: int(m.Size)}},
			GidMappingsEnableSetgroups: true,
			// Become the namespace's root: files tar creates then belong
			// to UIDBase:GIDBase, and chown to any mapped id is allowed.
			Credential: &syscall.Credential{Uid: 0, Gid: 0},
		}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("extract template: %w", commandError(ctx, cmd, err, ""))
	}
	return cmd, stdin, stderr, nil
}

func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

// gateMembers copies the tar stream from src to dst, holding back each
// member's header until it has been checked, so that tar never sees a
// member that fails the check.
func gateMembers(src io.Reader, dst io.Writer, m *IDShift) error {
	g := &gate{src: src, dst: dst}
	tr := tar.NewReader(g)
	var c memberCheck
	c.shift = m
	for {
		g.open = false
		h, err := tr.Next()
		if g.werr != nil {
			return g.werr
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := c.check(h); err != nil {
			return &refusedError{err}
		}
		if err := g.pass(); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			if g.werr != nil {
				return g.werr
			}
			return fmt.Errorf("read archive member %q: %w", h.Name, err)
		}
	}
	// The end-of-archive blocks and the padding after them. tar may stop
	// reading at the end-of-archive mark; what it leaves is not needed.
	err := g.pass()
	if err == nil {
		_, err = io.Copy(dst, src)
	}
	if err != nil && isBrokenPipe(err) {
		_, err = io.Copy(io.Discard, src)
	}
	return err
}

// refusedError is a member the check turned down.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// gate forwards what is read through it to dst, or while closed keeps
// it until pass.
type gate struct {
	src  io.Reader
	dst  io.Writer
	held bytes.Buffer
	open bool
	werr error // the first write error, which ends the copy
}

func (g *gate) Read(p []byte) (int, error) {
	n, err := g.src.Read(p)
	if n > 0 {
		if !g.open {
			g.held.Write(p[:n])
		} else if _, werr := g.dst.Write(p[:n]); werr != nil {
			g.werr = werr
			return n, werr
		}
	}
	return n, err
}

// pass forwards what was held and opens the gate.
func (g *gate) pass() error {
	if _, err := g.held.WriteTo(g.dst); err != nil {
		g.werr = err
		return err
	}
	g.open = true
	return nil
}

// memberCheck refuses archive members that could write outside the
// tree or that the id map cannot represent.
type memberCheck struct {
	shift    *IDShift
	symlinks map[string]bool
}

func (c *memberCheck) check(h *tar.Header) error {
	name, err := memberPath(h.Name)
	if err != nil {
		return err
	}
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if c.symlinks[dir] {
			return fmt.Errorf("archive member %q lies beneath %q, a symlink of the same archive", h.Name, dir)
		}
	}
	switch h.Typeflag {
	case tar.TypeLink:
		if _, err := memberPath(h.Linkname); err != nil {
			return fmt.Errorf("hard link %q: %w", h.Name, err)
		}
	case tar.TypeSymlink:
		if c.symlinks == nil {
			c.symlinks = map[string]bool{}
		}
		c.symlinks[name] = true
	}
	if c.shift != nil && (h.Uid < 0 || h.Gid < 0 || int64(h.Uid) >= int64(c.shift.Size) || int64(h.Gid) >= int64(c.shift.Size)) {
		return fmt.Errorf("archive member %q is owned by %d:%d; the container maps ids 0 to %d only",
			h.Name, h.Uid, h.Gid, c.shift.Size-1)
	}
	return nil
}

// memberPath cleans a member name and refuses names that leave the
// extraction directory.
func memberPath(name string) (string, error) {
	if name == "" {
		return "", errors.New("archive member with an empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("archive member %q has an absolute path; template members must be relative", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("archive member %q contains '..'; template members must stay inside the root", name)
		}
	}
	return path.Clean(name), nil
}
