package nfs3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DialFunc opens a TCP connection; it is net.Dialer.DialContext's shape.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Options tune how a Client connects.
type Options struct {
	// Dial opens connections; nil uses a dialer that, when running as
	// root, binds a reserved source port as NFS servers exporting with
	// "secure" (the Linux default) demand.
	Dial DialFunc
	// Cred is the AUTH_SYS identity; the zero value is root.
	Cred Cred
}

// Client is a mounted NFSv3 export.
type Client struct {
	server string
	export string
	dial   DialFunc
	cred   Cred
	nfs    *rpcConn
	root   []byte
}

// Dial mounts export on server (a host name or address, IPv6 without
// brackets) through the portmapper and the MOUNT protocol and connects
// to its NFS service.
func Dial(ctx context.Context, server, export string, opt Options) (*Client, error) {
	c := &Client{server: server, export: export, dial: opt.Dial, cred: opt.Cred}
	if c.dial == nil {
		c.dial = reservedPortDial
	}
	if c.cred.Machine == "" {
		c.cred.Machine, _ = os.Hostname()
	}
	mountPort, err := c.getport(ctx, progMount, 3)
	if err != nil {
		return nil, fmt.Errorf("NFS server %s: looking up its MOUNT service: %w", server, err)
	}
	if mountPort == 0 {
		return nil, fmt.Errorf("NFS server %s offers no MOUNT version 3 service over TCP", server)
	}
	if c.root, err = c.mount(ctx, mountPort); err != nil {
		return nil, err
	}
	nfsPort, err := c.getport(ctx, progNFS, 3)
	if err != nil || nfsPort == 0 {
		nfsPort = 2049 // NFS has a well-known port; the portmapper is only a hint here
	}
	conn, err := c.dial(ctx, "tcp", net.JoinHostPort(server, strconv.Itoa(int(nfsPort))))
	if err != nil {
		return nil, fmt.Errorf("NFS server %s: %w", server, err)
	}
	c.nfs = newRPCConn(conn, progNFS, 3, c.cred)
	return c, nil
}

// Close drops the connection. It does not send UMNT: the server's mount
// list is advisory and a storage opens many short-lived clients.
func (c *Client) Close() error { return c.nfs.Close() }

func (c *Client) getport(ctx context.Context, prog, vers uint32) (uint32, error) {
	conn, err := c.dial(ctx, "tcp", net.JoinHostPort(c.server, "111"))
	if err != nil {
		return 0, err
	}
	pm := newRPCConn(conn, progPortmap, 2, c.cred)
	defer pm.Close()
	var e encoder
	e.u32(prog)
	e.u32(vers)
	e.u32(6) // IPPROTO_TCP
	e.u32(0)
	d, err := pm.call(ctx, 3, e.b) // PMAPPROC_GETPORT
	if err != nil {
		return 0, err
	}
	port := d.u32()
	return port, d.err
}

func (c *Client) mount(ctx context.Context, port uint32) ([]byte, error) {
	conn, err := c.dial(ctx, "tcp", net.JoinHostPort(c.server, strconv.Itoa(int(port))))
	if err != nil {
		return nil, fmt.Errorf("NFS server %s: MOUNT service: %w", c.server, err)
	}
	m := newRPCConn(conn, progMount, 3, c.cred)
	defer m.Close()
	var e encoder
	e.str(c.export)
	d, err := m.call(ctx, 1, e.b) // MOUNTPROC3_MNT
	if err != nil {
		return nil, fmt.Errorf("NFS server %s: mounting %s: %w", c.server, c.export, err)
	}
	if st := d.u32(); st != 0 {
		return nil, fmt.Errorf("NFS server %s refused to mount %s: %w", c.server, c.export, &Error{Op: "MNT", Path: c.export, Status: st})
	}
	fh := d.opaque(64)
	return fh, d.err
}

// Error is an NFS procedure that failed with an nfsstat3 code.
type Error struct {
	Op     string
	Path   string
	Status uint32
}

func (e *Error) Error() string {
	return fmt.Sprintf("NFS %s %s: %s", e.Op, e.Path, statusText(e.Status))
}

// Is lets callers test with fs.ErrNotExist, fs.ErrExist and
// fs.ErrPermission, and ErrNotEmpty.
func (e *Error) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Status == 2
	case fs.ErrExist:
		return e.Status == 17
	case fs.ErrPermission:
		return e.Status == 1 || e.Status == 13
	case ErrNotEmpty:
		return e.Status == 66
	}
	return false
}

// ErrNotEmpty matches removing a directory that still has entries.
var ErrNotEmpty = errors.New("directory not empty")

func statusText(st uint32) string {
	names := map[uint32]string{
		1: "not owner", 2: "no such file or directory", 5: "I/O error", 6: "no such device",
		13: "permission denied", 17: "file exists", 18: "cross-device link", 19: "no such device",
		20: "not a directory", 21: "is a directory", 22: "invalid argument", 27: "file too large",
		28: "no space left on device", 30: "read-only file system", 31: "too many links",
		63: "name too long", 66: "directory not empty", 69: "quota exceeded", 70: "stale file handle",
		71: "too many levels of remote in path", 10001: "illegal file handle", 10004: "operation not supported",
		10006: "server fault", 10007: "object type not supported", 10008: "server busy, try again later",
	}
	if s, ok := names[st]; ok {
		return s
	}
	return "status " + strconv.Itoa(int(st))
}

// split checks and splits a path relative to the export root.
func split(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for _, s := range parts {
		if s == "" || s == "." || s == ".." {
			return nil, fmt.Errorf("nfs3: illegal path %q", p)
		}
	}
	return parts, nil
}

// lookup walks parts from the root and returns the handle of the last.
func (c *Client) lookup(ctx context.Context, parts []string) ([]byte, error) {
	fh := c.root
	for i, name := range parts {
		var e encoder
		e.opaque(fh)
		e.str(name)
		d, err := c.nfs.call(ctx, 3, e.b) // NFSPROC3_LOOKUP
		if err != nil {
			return nil, err
		}
		if st := d.u32(); st != 0 {
			return nil, &Error{Op: "LOOKUP", Path: strings.Join(parts[:i+1], "/"), Status: st}
		}
		fh = d.opaque(64)
		if d.err != nil {
			return nil, d.err
		}
	}
	return fh, nil
}

// parent returns the handle of p's directory and p's last name.
func (c *Client) parent(ctx context.Context, p string) ([]byte, string, error) {
	parts, err := split(p)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return nil, "", fmt.Errorf("nfs3: the export root has no parent")
	}
	dir, err := c.lookup(ctx, parts[:len(parts)-1])
	return dir, parts[len(parts)-1], err
}

func sattr(e *encoder, mode uint32) {
	e.boolean(true) // mode
	e.u32(mode)
	e.boolean(false) // uid
	e.boolean(false) // gid
	e.boolean(false) // size
	e.u32(0)         // atime: don't change
	e.u32(0)         // mtime: don't change
}

// Mkdir creates directory p (relative to the export root).
func (c *Client) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	dir, name, err := c.parent(ctx, p)
	if err != nil {
		return err
	}
	var e encoder
	e.opaque(dir)
	e.str(name)
	sattr(&e, uint32(mode.Perm()))
	return c.status(ctx, 9, "MKDIR", p, e.b) // NFSPROC3_MKDIR
}

// MkdirAll creates p and its missing parents.
func (c *Client) MkdirAll(ctx context.Context, p string, mode fs.FileMode) error {
	parts, err := split(p)
	if err != nil {
		return err
	}
	for i := range parts {
		err := c.Mkdir(ctx, path.Join(parts[:i+1]...), mode)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// Create makes an empty regular file p and fails with fs.ErrExist if
// anything of that name exists (a GUARDED create: the server checks and
// creates in one step, so two callers cannot both win).
func (c *Client) Create(ctx context.Context, p string, mode fs.FileMode) error {
	dir, name, err := c.parent(ctx, p)
	if err != nil {
		return err
	}
	var e encoder
	e.opaque(dir)
	e.str(name)
	e.u32(1) // GUARDED
	sattr(&e, uint32(mode.Perm()))
	return c.status(ctx, 8, "CREATE", p, e.b) // NFSPROC3_CREATE
}

// Remove deletes the file p.
func (c *Client) Remove(ctx context.Context, p string) error {
	return c.dirop(ctx, 12, "REMOVE", p) // NFSPROC3_REMOVE
}

// Rmdir deletes the empty directory p.
func (c *Client) Rmdir(ctx context.Context, p string) error {
	return c.dirop(ctx, 13, "RMDIR", p) // NFSPROC3_RMDIR
}

func (c *Client) dirop(ctx context.Context, proc uint32, op, p string) error {
	dir, name, err := c.parent(ctx, p)
	if err != nil {
		return err
	}
	var e encoder
	e.opaque(dir)
	e.str(name)
	return c.status(ctx, proc, op, p, e.b)
}

// Rename moves from to to. NFS RENAME replaces an existing target, so
// callers that must not overwrite check first (or create to
// exclusively and rename over their own placeholder).
func (c *Client) Rename(ctx context.Context, from, to string) error {
	fdir, fname, err := c.parent(ctx, from)
	if err != nil {
		return err
	}
	tdir, tname, err := c.parent(ctx, to)
	if err != nil {
		return err
	}
	var e encoder
	e.opaque(fdir)
	e.str(fname)
	e.opaque(tdir)
	e.str(tname)
	return c.status(ctx, 14, "RENAME", from+" to "+to, e.b) // NFSPROC3_RENAME
}

func (c *Client) status(ctx context.Context, proc uint32, op, p string, args []byte) error {
	d, err := c.nfs.call(ctx, proc, args)
	if err != nil {
		return err
	}
	if st := d.u32(); st != 0 {
		return &Error{Op: op, Path: p, Status: st}
	}
	return d.err
}

// Attr is what GETATTR tells about an entry.
type Attr struct {
	Dir   bool
	Mode  fs.FileMode
	Size  int64 // bytes
	Used  int64 // bytes taken on the server
	MTime time.Time
	CTime time.Time
}

// Stat returns the attributes of p.
func (c *Client) Stat(ctx context.Context, p string) (Attr, error) {
	parts, err := split(p)
	if err != nil {
		return Attr{}, err
	}
	fh, err := c.lookup(ctx, parts)
	if err != nil {
		return Attr{}, err
	}
	var e encoder
	e.opaque(fh)
	d, err := c.nfs.call(ctx, 1, e.b) // NFSPROC3_GETATTR
	if err != nil {
		return Attr{}, err
	}
	if st := d.u32(); st != 0 {
		return Attr{}, &Error{Op: "GETATTR", Path: p, Status: st}
	}
	a := readFattr(d)
	return a, d.err
}

func readFattr(d *decoder) Attr {
	var a Attr
	typ := d.u32()
	a.Dir = typ == 2 // NF3DIR
	a.Mode = fs.FileMode(d.u32() & 0o7777)
	if a.Dir {
		a.Mode |= fs.ModeDir
	}
	d.skip(4 * 3) // nlink, uid, gid
	a.Size = int64(d.u64())
	a.Used = int64(d.u64())
	d.skip(8 + 8 + 8 + 8) // rdev, fsid, fileid, atime
	a.MTime = time.Unix(int64(d.u32()), int64(d.u32()))
	a.CTime = time.Unix(int64(d.u32()), int64(d.u32()))
	return a
}

// FSStat is the space of the exported file system, in bytes.
type FSStat struct {
	Total, Free, Avail int64
}

// FSStat asks for the space of the export's file system.
func (c *Client) FSStat(ctx context.Context) (FSStat, error) {
	var e encoder
	e.opaque(c.root)
	d, err := c.nfs.call(ctx, 18, e.b) // NFSPROC3_FSSTAT
	if err != nil {
		return FSStat{}, err
	}
	st := d.u32()
	if d.boolean() { // post_op_attr
		readFattr(d)
	}
	if st != 0 {
		return FSStat{}, &Error{Op: "FSSTAT", Path: c.export, Status: st}
	}
	s := FSStat{Total: int64(d.u64()), Free: int64(d.u64()), Avail: int64(d.u64())}
	return s, d.err
}

// reservedPortDial binds a source port below 1024 when it can (root),
// because Linux's NFS server refuses AUTH_SYS clients on higher ports
// unless an export says "insecure"; libnfs and the kernel client do the
// same.
func reservedPortDial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if os.Geteuid() != 0 {
		return d.DialContext(ctx, network, address)
	}
	for port := 1023; port >= 665; port-- {
		rd := d
		rd.LocalAddr = &net.TCPAddr{Port: port}
		conn, err := rd.DialContext(ctx, network, address)
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, err
		}
	}
	return d.DialContext(ctx, network, address)
}
