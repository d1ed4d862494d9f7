package zfs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// provider is the command set of one iSCSI target implementation, as
// Proxmox VE's LunCmd modules: a logical unit (LU) is a zvol exported by
// the target, named by an id the provider chooses (a GUID for COMSTAR,
// the device path for LIO), and a view maps it to a LUN number.
type provider interface {
	// createLU exports device dev and returns the LU's id.
	createLU(ctx context.Context, dev string) (string, error)
	deleteLU(ctx context.Context, lu string) error
	// importLU exports dev again after the zvol changed under the target
	// (rollback), keeping the LU's identity where the target can.
	importLU(ctx context.Context, dev string) error
	// modifyLU tells the target the zvol's new size in KiB.
	modifyLU(ctx context.Context, lu string, kib int64) error
	addView(ctx context.Context, lu string) error
	// listView returns the LUN number of an LU.
	listView(ctx context.Context, lu string) (int, error)
	// listLU returns the id of the LU exporting dev, "" if there is none.
	listLU(ctx context.Context, dev string) (string, error)
}

// lunProvider returns a fresh command set for one operation: LIO, istgt
// and IET read the target's configuration once per operation and keep
// it up to date with what the operation changes.
func (s *Storage) lunProvider() (provider, error) {
	switch s.provider {
	case "comstar":
		return &comstar{s: s}, nil
	case "LIO":
		return &lio{s: s}, nil
	case "istgt":
		return newIstgt(s), nil
	case "iet":
		return newIET(s), nil
	}
	return nil, fmt.Errorf("unknown iscsiprovider %q", s.provider)
}

// base is the directory the target host shows zvols in, as each
// provider expects unless zfs-base-path says otherwise.
func (s *Storage) base() string {
	if s.basePath != "" {
		return s.basePath
	}
	switch s.provider {
	case "comstar":
		return "/dev/zvol/rdsk"
	case "istgt":
		return "/dev/zvol"
	}
	return "/dev"
}

// device is the path of a zvol on the target host.
func (s *Storage) device(name string) string { return s.base() + "/" + s.pool + "/" + name }

// comstar drives illumos COMSTAR with stmfadm and sbdadm.
type comstar struct{ s *Storage }

const (
	stmfadm = "/usr/sbin/stmfadm"
	sbdadm  = "/usr/sbin/sbdadm"
)

// GUID derives the COMSTAR LU GUID Proxmox VE gives a device: the
// 600144f prefix of Sun's OUI, then the md5 of the path from its eighth
// hex digit on, so every node computes the same one.
func GUID(dev string) string {
	sum := md5.Sum([]byte(dev))
	return "600144f" + hex.EncodeToString(sum[:])[7:]
}

func (c *comstar) createLU(ctx context.Context, dev string) (string, error) {
	wcd := "false"
	if c.s.nowritecache {
		wcd = "true"
	}
	guid := GUID(dev)
	if _, err := c.s.remote(ctx, stmfadm, "create-lu", "-p", "wcd="+wcd, "-o", guid, dev); err != nil {
		return "", err
	}
	return guid, nil
}

func (c *comstar) deleteLU(ctx context.Context, guid string) error {
	_, err := c.s.remote(ctx, stmfadm, "delete-lu", guid)
	return err
}

func (c *comstar) importLU(ctx context.Context, dev string) error {
	_, err := c.s.remote(ctx, stmfadm, "import-lu", dev)
	return err
}

func (c *comstar) modifyLU(ctx context.Context, guid string, kib int64) error {
	_, err := c.s.remote(ctx, stmfadm, "modify-lu", "-s", strconv.FormatInt(kib, 10)+"K", guid)
	return err
}

func (c *comstar) addView(ctx context.Context, guid string) error {
	args := []string{stmfadm, "add-view"}
	if c.s.hostGroup != "" {
		args = append(args, "--host-group", c.s.hostGroup)
	}
	if c.s.targetGroup != "" {
		args = append(args, "--target-group", c.s.targetGroup)
	}
	_, err := c.s.remote(ctx, append(args, guid)...)
	return err
}

var viewLUNRE = regexp.MustCompile(`^\s*LUN\s*:\s*(\d+)\s*$`)

func (c *comstar) listView(ctx context.Context, guid string) (int, error) {
	out, err := c.s.remote(ctx, stmfadm, "list-view", "-l", guid)
	if err != nil {
		return 0, err
	}
	return ParseViewLUN(out)
}

// ParseViewLUN reads the LUN number of the first view in the output of
// stmfadm list-view -l.
func ParseViewLUN(out []byte) (int, error) {
	for _, line := range strings.Split(string(out), "\n") {
		if m := viewLUNRE.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err == nil && n < 1<<14 {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("no LUN number in stmfadm list-view output %q", out)
}

func (c *comstar) listLU(ctx context.Context, dev string) (string, error) {
	out, err := c.s.remote(ctx, sbdadm, "list-lu")
	if err != nil {
		return "", err
	}
	return ParseSBDLU(out, dev), nil
}

// ParseSBDLU finds the GUID of the LU whose source is dev in the output
// of sbdadm list-lu.
func ParseSBDLU(out []byte, dev string) string {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == dev && hexRE.MatchString(f[0]) && strings.Trim(f[1], "0123456789") == "" {
			return f[0]
		}
	}
	return ""
}

var hexRE = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
