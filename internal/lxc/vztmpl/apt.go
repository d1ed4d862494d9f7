package vztmpl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
)

// ErrArchiveUnreachable marks a build that could not get its packages
// from the Debian archive: no network, no package lists, or lists the
// archive has moved past. Tests skip on it (errors.Is).
var ErrArchiveUnreachable = errors.New("the Debian archive cannot be reached")

// errStaleLists is a download that failed because the archive no longer
// has the version the local lists name; apt-get update fixes it.
var errStaleLists = errors.New("the package lists are out of date")

// debFile is one .deb of the archive, exactly identified.
type debFile struct {
	Name    string
	Version string
	File    string // the name apt-get download gives it
	SHA256  string
}

// aptClient runs the host's apt to find and download packages without
// installing them.
type aptClient struct {
	// pkgcache is where apt may keep its binary package cache. Images
	// that configure none make every apt call parse all package lists
	// anew (a second of CPU each); apt replaces this file by rename and
	// rebuilds it when the lists change.
	pkgcache string
}

// apt returns the apt client of this builder, with its package cache in
// CacheDir when that directory can be made.
func (b Builder) apt() aptClient {
	if b.CacheDir == "" || os.MkdirAll(b.CacheDir, 0o755) != nil {
		return aptClient{}
	}
	return aptClient{pkgcache: filepath.Join(b.CacheDir, "apt-pkgcache.bin")}
}

// resolve asks apt which file of pkg it would download now. It reads
// the local package lists only, so it works offline.
func (a aptClient) resolve(ctx context.Context, pkg string) (debFile, error) {
	// apt-get download skips files present in the working directory, and
	// then prints no URI for them: ask in an empty one.
	dir, err := os.MkdirTemp("", "hearth-vztmpl-resolve-")
	if err != nil {
		return debFile{}, err
	}
	defer os.RemoveAll(dir)
	out, err := command(ctx, dir, "apt-get", a.options("download", "--print-uris", pkg)...)
	if err != nil {
		return debFile{}, listsError(err)
	}
	debs, err := parsePrintURIs(out)
	if err != nil {
		return debFile{}, err
	}
	for _, d := range debs {
		if d.Name == pkg {
			return d, nil
		}
	}
	return debFile{}, fmt.Errorf("apt-get download --print-uris did not name package %s", pkg)
}

// fetch returns the path of d in dir, downloading it unless a file
// with the right digest is there already.
func (a aptClient) fetch(ctx context.Context, dir string, d debFile) (string, error) {
	path := filepath.Join(dir, d.File)
	if checkSHA256(path, d.SHA256) == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Download into a private directory, so that a concurrent build never
	// sees a half-written .deb under the final name.
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if _, err := command(ctx, tmp, "apt-get", a.options("download", d.Name+"="+d.Version)...); err != nil {
		return "", downloadError(err)
	}
	got := filepath.Join(tmp, d.File)
	if err := checkSHA256(got, d.SHA256); err != nil {
		return "", err
	}
	if err := os.Rename(got, path); err != nil {
		return "", err
	}
	return path, nil
}

// update runs apt-get update; only root may.
func (a aptClient) update(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the package lists are out of date and only root may refresh them", ErrArchiveUnreachable)
	}
	if _, err := command(ctx, "", "apt-get", a.options("update")...); err != nil {
		return fmt.Errorf("%w: %w", ErrArchiveUnreachable, err)
	}
	return nil
}

// options starts an apt command line. As root apt hands downloads to
// its _apt user, who cannot write into a private temporary directory;
// say up front that root downloads instead of getting a warning.
func (a aptClient) options(args ...string) []string {
	opts := []string{"-q"}
	if a.pkgcache != "" {
		opts = append(opts, "-o", "Dir::Cache::pkgcache="+a.pkgcache)
	}
	if os.Geteuid() == 0 {
		opts = append(opts, "-o", "APT::Sandbox::User=root")
	}
	return append(opts, args...)
}

// parsePrintURIs reads `apt-get download --print-uris` lines:
//
//	'URI' FILE SIZE SHA256:HEX
//
// The file name holds the version, its epoch colon escaped as %3a.
func parsePrintURIs(out []byte) ([]debFile, error) {
	var debs []debFile
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "'") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasSuffix(f[1], ".deb") {
			return nil, fmt.Errorf("unexpected apt-get --print-uris line %q", line)
		}
		sum, ok := strings.CutPrefix(f[3], "SHA256:")
		if _, err := hex.DecodeString(sum); !ok || len(sum) != 64 || err != nil {
			return nil, fmt.Errorf("apt-get --print-uris line %q has no SHA256 digest", line)
		}
		parts := strings.Split(strings.TrimSuffix(f[1], ".deb"), "_")
		// The name becomes a path in the cache: no directories in it.
		if len(parts) != 3 || !debName.MatchString(parts[0]) || parts[2] == "" || strings.Contains(f[1], "/") {
			return nil, fmt.Errorf("package file %q is not NAME_VERSION_ARCH.deb", f[1])
		}
		version, err := url.PathUnescape(parts[1])
		if err != nil || !debVersion.MatchString(version) {
			return nil, fmt.Errorf("package file %q has no valid version", f[1])
		}
		debs = append(debs, debFile{Name: parts[0], Version: version, File: f[1], SHA256: sum})
	}
	return debs, nil
}

// Debian policy's package name and version syntax (the version loosely:
// an optional epoch, then no spaces or control characters).
var (
	debName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debVersion = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
)

func checkSHA256(file, want string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA256 %s, the package lists say %s", filepath.Base(file), got, want)
	}
	return nil
}

// listsError explains a failed look-up in the package lists.
func listsError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "Unable to locate package") || strings.Contains(msg, "no installation candidate") ||
		strings.Contains(msg, "Can't select candidate") || strings.Contains(msg, "No packages found") {
		return fmt.Errorf("%w: the package lists lack the template's packages (run apt-get update): %w", ErrArchiveUnreachable, err)
	}
	return err
}

// downloadError sorts a failed download into stale lists (retry after an
// update) and an unreachable archive (give up; tests skip).
func downloadError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "404  Not Found"), strings.Contains(msg, "404 Not Found"):
		return fmt.Errorf("%w: %w", errStaleLists, err)
	case strings.Contains(msg, "Failed to fetch"), strings.Contains(msg, "Could not resolve"),
		strings.Contains(msg, "Temporary failure"), strings.Contains(msg, "Could not connect"),
		strings.Contains(msg, "Unable to connect"):
		return fmt.Errorf("%w: %w", ErrArchiveUnreachable, err)
	}
	return err
}

// command runs a tool in dir (empty: the current one) and returns its
// output. runner.Cmd has no working directory, which apt-get download
// needs, so this uses os/exec and borrows runner's error type.
func command(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, commandError(ctx, cmd, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// commandError describes a failed command: its exit code and complaint,
// or that it is not installed.
func commandError(ctx context.Context, cmd *exec.Cmd, err error, stderr string) error {
	line := runner.Cmd{Name: filepath.Base(cmd.Path), Args: cmd.Args[1:]}.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return &runner.ExitError{Cmd: line, Code: ee.ExitCode(), Stderr: stderr}
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("command '%s' is not installed: %w", cmd.Args[0], err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("command '%s': %w", line, ctx.Err())
	}
	return fmt.Errorf("command '%s': %w", line, err)
}

func isStale(err error) bool { return errors.Is(err, errStaleLists) }
