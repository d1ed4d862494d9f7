package testguest

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
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
)

// ErrArchiveUnreachable marks a build that could not get its packages
// from the Debian archive: no network, no package lists, or lists too
// old for the archive. Tests that boot the guest skip on it (with
// errors.Is) instead of failing.
var ErrArchiveUnreachable = errors.New("the Debian archive cannot be reached")

// errStaleLists is a download that failed because the archive no longer
// has the version the local package lists name (a security update
// replaced it). An apt-get update fixes it.
var errStaleLists = errors.New("the package lists are out of date")

// Root packages of the guest. The kernel metapackage only points at the
// current versioned image package; qemu-guest-agent brings its libraries
// through its dependencies.
const (
	kernelMetapackage = "linux-image-amd64"
	busyboxPackage    = "busybox-static"
	agentPackage      = "qemu-guest-agent"
)

// debPackage is one .deb file of the archive, exactly identified.
type debPackage struct {
	Name    string
	Version string
	File    string // file name apt-get download gives it
	SHA256  string
}

func (p debPackage) String() string { return p.Name + "=" + p.Version }

// archive is where the packages come from: apt on the host, or a fake in
// tests.
type archive interface {
	// Resolve names the exact packages the guest is built from. It reads
	// the local package lists only, so it works offline.
	Resolve(ctx context.Context) ([]debPackage, error)
	// Fetch downloads the packages into dir and checks their digests.
	Fetch(ctx context.Context, dir string, pkgs []debPackage) error
	// Update refreshes the package lists (apt-get update).
	Update(ctx context.Context) error
}

// apt fetches packages with the host's apt, without installing them.
type apt struct {
	// pkgcache is where apt may keep its binary package cache. Docker-style
	// images configure none, so every apt call re-reads all package lists
	// (a second each); a cache file of our own makes resolving the guest's
	// packages three times faster. apt writes it through a temporary file
	// and a rename, and rebuilds it when the lists change.
	pkgcache string
}

func (a apt) Resolve(ctx context.Context) ([]debPackage, error) {
	out, err := command(ctx, "", "apt-cache", a.options("depends", "--recurse",
		"--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
		"--no-replaces", "--no-enhances", "--no-pre-depends",
		kernelMetapackage, busyboxPackage, agentPackage)...)
	if err != nil {
		return nil, listsError(err)
	}
	names, err := guestPackages(parseDepends(out))
	if err != nil {
		return nil, err
	}
	// apt-get download skips files already in the working directory, so
	// ask in an empty one.
	dir, err := os.MkdirTemp("", "hearth-testguest-resolve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out, err = command(ctx, dir, "apt-get", a.options(append([]string{"download", "--print-uris"}, names...)...)...)
	if err != nil {
		return nil, listsError(err)
	}
	pkgs, err := parsePrintURIs(out)
	if err != nil {
		return nil, err
	}
	got := map[string]bool{}
	for _, p := range pkgs {
		got[p.Name] = true
	}
	for _, n := range names {
		if !got[n] {
			return nil, fmt.Errorf("apt-get download --print-uris did not name package %s", n)
		}
	}
	return pkgs, nil
}

func (a apt) Fetch(ctx context.Context, dir string, pkgs []debPackage) error {
	args := a.options("download")
	for _, p := range pkgs {
		args = append(args, p.String())
	}
	if _, err := command(ctx, dir, "apt-get", args...); err != nil {
		return downloadError(err)
	}
	for _, p := range pkgs {
		if err := checkSHA256(filepath.Join(dir, p.File), p.SHA256); err != nil {
			return err
		}
	}
	return nil
}

func (a apt) Update(ctx context.Context) error {
	if _, err := command(ctx, "", "apt-get", a.options("update")...); err != nil {
		return fmt.Errorf("%w: %w", ErrArchiveUnreachable, err)
	}
	return nil
}

// options starts an apt command line. As root, apt hands downloads to
// its unprivileged _apt user, who cannot write into a private temporary
// directory; apt then falls back with a warning, so say up front that
// root downloads.
func (a apt) options(args ...string) []string {
	opts := []string{"-q"}
	if a.pkgcache != "" {
		opts = append(opts, "-o", "Dir::Cache::pkgcache="+a.pkgcache)
	}
	if os.Geteuid() == 0 {
		opts = append(opts, "-o", "APT::Sandbox::User=root")
	}
	return append(opts, args...)
}

// parseDepends reads `apt-cache depends --recurse` output into package →
// dependencies. Virtual packages (<name>) and the provider lists under
// them are dropped; alternatives (|Depends) are all kept, which at worst
// fetches a package too many.
func parseDepends(out []byte) map[string][]string {
	deps := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			words := strings.Fields(line)
			if len(words) != 1 || strings.HasPrefix(words[0], "<") {
				cur = ""
				continue
			}
			cur = words[0]
			if _, ok := deps[cur]; !ok {
				deps[cur] = nil
			}
			continue
		}
		field := strings.TrimLeft(line, " |")
		name, ok := strings.CutPrefix(field, "Depends: ")
		words := strings.Fields(name)
		if !ok || cur == "" || len(words) == 0 || strings.HasPrefix(words[0], "<") {
			continue
		}
		deps[cur] = append(deps[cur], words[0])
	}
	return deps
}

// guestPackages picks, from the dependency graph, the versioned kernel
// package, busybox, and the agent with everything it depends on.
func guestPackages(deps map[string][]string) ([]string, error) {
	var kernel []string
	for _, d := range deps[kernelMetapackage] {
		if strings.HasPrefix(d, "linux-image-") {
			kernel = append(kernel, d)
		}
	}
	if len(kernel) != 1 {
		return nil, fmt.Errorf("%w: %s should depend on exactly one linux-image-* package, found %q (run apt-get update?)",
			ErrArchiveUnreachable, kernelMetapackage, kernel)
	}
	if _, ok := deps[busyboxPackage]; !ok {
		return nil, fmt.Errorf("%w: apt knows no package %s (run apt-get update?)", ErrArchiveUnreachable, busyboxPackage)
	}
	if _, ok := deps[agentPackage]; !ok {
		return nil, fmt.Errorf("%w: apt knows no package %s (run apt-get update?)", ErrArchiveUnreachable, agentPackage)
	}
	set := map[string]bool{kernel[0]: true, busyboxPackage: true}
	var walk func(string)
	walk = func(p string) {
		if set[p] {
			return
		}
		set[p] = true
		for _, d := range deps[p] {
			walk(d)
		}
	}
	walk(agentPackage)
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// parsePrintURIs reads `apt-get download --print-uris` lines:
//
//	'URI' FILE SIZE SHA256:HEX
//
// The file name holds the version with its epoch colon escaped (%3a).
func parsePrintURIs(out []byte) ([]debPackage, error) {
	var pkgs []debPackage
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
		if len(parts) != 3 || !debName.MatchString(parts[0]) || parts[2] == "" {
			return nil, fmt.Errorf("package file %q is not NAME_VERSION_ARCH.deb", f[1])
		}
		version, err := url.PathUnescape(parts[1])
		if err != nil || !debVersion.MatchString(version) {
			return nil, fmt.Errorf("package file %q has no valid version", f[1])
		}
		pkgs = append(pkgs, debPackage{Name: parts[0], Version: version, File: f[1], SHA256: sum})
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, nil
}

// Debian policy's package name and version syntax (version loosely:
// an optional epoch, then no spaces or control characters).
var (
	debName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debVersion = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
)

func checkSHA256(file, want string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("downloaded package: %w", err)
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
		return fmt.Errorf("%w: the package lists lack the guest's packages (run apt-get update): %w", ErrArchiveUnreachable, err)
	}
	return err
}

// downloadError sorts a failed download into stale lists (retry after an
// update) and an unreachable archive (give up, tests skip).
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

// command runs a tool in dir and returns its output. runner.Cmd has no
// working directory, which apt-get download needs.
func command(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	line := runner.Cmd{Name: name, Args: args}.String()
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() == nil {
			return nil, &runner.ExitError{Cmd: line, Code: ee.ExitCode(), Stderr: stderr.String()}
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("command '%s' is not installed: %w", name, err)
		}
		return nil, fmt.Errorf("command '%s': %w", line, err)
	}
	return stdout.Bytes(), nil
}
