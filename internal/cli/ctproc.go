package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/atomicfile"
)

// Client procedures of pct: exec prints what the container's command
// printed and ends as it did; pull writes the file it read here.

// ctExec prints the streams of a command run in a container as they are
// and returns its exit code, as Proxmox VE's pct exec does.
func (r *run) ctExec(data json.RawMessage) int {
	var res api.CTExecResult
	var code struct {
		ExitCode *int `json:"exitcode"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return r.fail(fmt.Errorf("reading the answer of exec: %w", err))
	}
	if err := json.Unmarshal(data, &code); err != nil || code.ExitCode == nil {
		return r.fail(fmt.Errorf("the answer of exec holds no exit code: %s", data))
	}
	io.WriteString(r.stdout, res.OutData)
	io.WriteString(r.stderr, res.ErrData)
	for _, s := range []struct {
		truncated bool
		name      string
	}{{res.OutTruncated, "standard output"}, {res.ErrTruncated, "standard error"}} {
		if s.truncated {
			fmt.Fprintf(r.stderr, "warning: the command wrote more than %d MiB to its %s; the rest was dropped\n",
				api.CTExecOutputMax>>20, s.name)
		}
	}
	if c := *code.ExitCode; c < 0 || c > 255 {
		return r.fail(fmt.Errorf("the command ended with exit code %d, which no process can return here", c))
	}
	return *code.ExitCode
}

// pullTarget is where pct pull writes, with the owner and permissions to
// give the file. It is worked out before the call, so a wrong user name
// or a missing directory fails before the container is read.
type pullTarget struct {
	path string
	// perms is nil to take the file's mode in the container.
	perms    *os.FileMode
	uid, gid int // -1 keeps what the writing process gets
}

// newPullTarget reads pct pull's local options; raw holds the path in
// the container, whose base name is the file's name when the destination
// is a directory (as with cp).
func newPullTarget(local, raw schema.Raw) (*pullTarget, error) {
	dest, _ := local.Get("destination")
	t := &pullTarget{path: dest, uid: -1, gid: -1}
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		src, _ := raw.Get("path")
		name := path.Base(src)
		if name == "/" || name == "." {
			return nil, fmt.Errorf("destination %s is a directory and the container's path names no file", dest)
		}
		t.path = filepath.Join(dest, name)
	}
	if fi, err := os.Stat(filepath.Dir(t.path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("destination %s: directory %s does not exist", dest, filepath.Dir(t.path))
	}
	if v, ok := local.Get("perms"); ok {
		m, err := parsePerms(v)
		if err != nil {
			return nil, fmt.Errorf("--perms: %w", err)
		}
		t.perms = &m
	}
	var err error
	if v, ok := local.Get("user"); ok {
		if t.uid, err = lookupID(v, "user", func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}); err != nil {
			return nil, err
		}
	}
	if v, ok := local.Get("group"); ok {
		if t.gid, err = lookupID(v, "group", func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// lookupID turns a user or group given as a number or a name on this
// machine into its numeric id.
func lookupID(v, what string, lookup func(string) (string, error)) (int, error) {
	if n, err := strconv.ParseUint(v, 10, 31); err == nil {
		return int(n), nil
	}
	id, err := lookup(v)
	if err != nil {
		return 0, fmt.Errorf("--%s: no %s %q on this machine (give a name that exists here or a numeric id)", what, what, v)
	}
	n, err := strconv.Atoi(id)
	if err != nil {
		return 0, fmt.Errorf("--%s: %s %q has the id %q, which is not a number", what, what, v, id)
	}
	return n, nil
}

// parsePerms reads permission bits in octal (644, 0644) or in
// hexadecimal with a 0x prefix, as pct push and pull take them.
func parsePerms(v string) (os.FileMode, error) {
	var n uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(v), "0x"); ok {
		n, err = strconv.ParseUint(h, 16, 32)
	} else {
		n, err = strconv.ParseUint(v, 8, 32)
	}
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("%q is not permission bits: give them in octal (such as 644) or in hexadecimal with 0x (such as 0x1a4), at most 07777", v)
	}
	return unixMode(uint32(n)), nil
}

// unixMode converts permission bits as stat shows them to an os.FileMode,
// whose set-id and sticky bits sit elsewhere.
func unixMode(bits uint32) os.FileMode {
	m := os.FileMode(bits & 0o777)
	if bits&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if bits&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if bits&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// ctPull writes the file the pull call returned to the destination,
// whole or not at all, then gives it its owner.
func (r *run) ctPull(data json.RawMessage) int {
	t := r.pull
	if t == nil {
		return r.fail(fmt.Errorf("no destination for the pulled file"))
	}
	var f api.CTFile
	if err := json.Unmarshal(data, &f); err != nil {
		return r.fail(fmt.Errorf("reading the answer of pull: %w", err))
	}
	content, err := base64.StdEncoding.DecodeString(f.Content)
	if err != nil {
		return r.fail(fmt.Errorf("the answer of pull holds no base64 content: %w", err))
	}
	if int64(len(content)) != f.Size {
		return r.fail(fmt.Errorf("the answer of pull is damaged: it gives the size %d but holds %d bytes", f.Size, len(content)))
	}
	mode := os.FileMode(0o644)
	if t.perms != nil {
		mode = *t.perms
	} else if f.Mode != "" {
		n, err := strconv.ParseUint(f.Mode, 8, 32)
		if err != nil {
			return r.fail(fmt.Errorf("the answer of pull gives the mode %q, which is not octal", f.Mode))
		}
		// Set-id bits of a file a container holds are not carried over
		// to the host by default: a root-owned setuid copy of the
		// container's file would be a gift to whoever controls it.
		mode = unixMode(uint32(n) & 0o777)
	}
	if err := t.write(content, mode); err != nil {
		return r.fail(err)
	}
	return exitOK
}

// write replaces the destination with content, then sets its owner.
func (t *pullTarget) write(content []byte, mode os.FileMode) error {
	if err := atomicfile.Write(t.path, content, mode); err != nil {
		return fmt.Errorf("writing %s: %w", t.path, err)
	}
	if t.uid == -1 && t.gid == -1 {
		return nil
	}
	if err := os.Lchown(t.path, t.uid, t.gid); err != nil {
		return fmt.Errorf("setting the owner of %s: %w", t.path, err)
	}
	// Changing the owner clears set-id bits; those asked for come back.
	if mode&(os.ModeSetuid|os.ModeSetgid) != 0 {
		if err := os.Chmod(t.path, mode); err != nil {
			return fmt.Errorf("setting the permissions of %s: %w", t.path, err)
		}
	}
	return nil
}
