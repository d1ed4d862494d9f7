package rbd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/hearth-virt/hearth/internal/storage"
)

// Parent is the snapshot an image was cloned from.
type Parent struct {
	Pool      string `json:"pool"`
	Namespace string `json:"pool_namespace"`
	Image     string `json:"image"`
	Snapshot  string `json:"snapshot"`
}

// Image is one image (or one of its snapshots) as rbd describes it.
type Image struct {
	Name      string  `json:"image"`
	Size      int64   `json:"size"`
	Format    int     `json:"format"`
	Snapshot  string  `json:"snapshot"`
	Protected string  `json:"protected"`
	Parent    *Parent `json:"parent"`
}

// decode reads one JSON value of the expected kind; rbd prints nothing
// for an empty pool on some versions.
func decode(out []byte, what string, v any) error {
	d := json.NewDecoder(bytes.NewReader(out))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("unexpected %s output %q: %w", what, truncate(out), err)
	}
	if d.More() {
		return fmt.Errorf("unexpected %s output %q: data after the JSON value", what, truncate(out))
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// Vol is a listed image with its volume name.
type Vol struct {
	storage.Vol
	Size int64
}

// Volname renders the volume name: <base>/<image> for linked clones.
func (v Vol) Volname() string { return storage.BlockVolname(v.Vol) }

// ParseVolname checks an rbd volume name as Proxmox VE parses them:
// vm-<vmid>-<name>, base-<vmid>-<name>, or base-<vmid>-<name>/vm-<vmid2>-<name>
// for a linked clone. Container volumes on rbd are images named vm-… too.
func ParseVolname(volname string) (storage.Vol, error) {
	v, err := storage.ParseBlockVolname(volname)
	if err != nil {
		return v, err
	}
	if v.Format != "raw" {
		return storage.Vol{}, fmt.Errorf("illegal rbd volume name %q: expected vm-<vmid>-<name>, base-<vmid>-<name> or base-<vmid>-<name>/vm-<vmid2>-<name>", volname)
	}
	return v, nil
}

// ParseList reads `rbd ls -l --format json` and returns the images whose
// names are volume names, snapshots left out. A clone of a base's
// __base__ snapshot in the same pool and namespace is named <base>/<image>.
func ParseList(out []byte, pool, namespace string) ([]Vol, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	var list []Image
	if err := decode(out, "rbd ls", &list); err != nil {
		return nil, err
	}
	var vols []Vol
	for _, im := range list {
		if im.Snapshot != "" {
			continue
		}
		v, err := ParseVolname(im.Name)
		if err != nil || v.Base != "" {
			continue
		}
		if im.Size < 0 {
			return nil, fmt.Errorf("unexpected rbd ls output: image %s has size %d", im.Name, im.Size)
		}
		if p := im.Parent; p != nil && p.Pool == pool && p.Namespace == namespace && p.Snapshot == BaseSnapshot {
			if b, err := ParseVolname(p.Image); err == nil && b.IsBase && b.Base == "" && !v.IsBase {
				v.Base, v.BaseVMID = b.Name, b.VMID
			}
		}
		vols = append(vols, Vol{Vol: v, Size: im.Size})
	}
	return vols, nil
}

// Info is what `rbd info --format json` says about an image or snapshot.
type Info struct {
	Name      string   `json:"name"`
	Size      int64    `json:"size"`
	Format    int      `json:"format"`
	Features  []string `json:"features"`
	Parent    *Parent  `json:"parent"`
	Protected string   `json:"protected"`
}

// IsProtected reports whether an info of a snapshot says it is protected.
func (i Info) IsProtected() bool { return i.Protected == "true" }

// ParseInfo reads `rbd info --format json`.
func ParseInfo(out []byte) (Info, error) {
	var i Info
	if err := decode(out, "rbd info", &i); err != nil {
		return Info{}, err
	}
	if i.Size < 0 || i.Name == "" {
		return Info{}, fmt.Errorf("unexpected rbd info output %q", truncate(out))
	}
	return i, nil
}

// Snap is one snapshot of `rbd snap ls --format json`.
type Snap struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Protected string `json:"protected"`
}

// ParseSnapList reads `rbd snap ls --format json`.
func ParseSnapList(out []byte) ([]Snap, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	var snaps []Snap
	if err := decode(out, "rbd snap ls", &snaps); err != nil {
		return nil, err
	}
	for _, sn := range snaps {
		if sn.Name == "" {
			return nil, fmt.Errorf("unexpected rbd snap ls output %q: a snapshot without a name", truncate(out))
		}
	}
	return snaps, nil
}

// ParseDU reads `rbd du --format json <image>`: the provisioned and the
// used bytes of the image itself (its snapshots are listed apart).
func ParseDU(out []byte, image string) (size, used int64, err error) {
	var du struct {
		Images []struct {
			Name        string `json:"name"`
			Snapshot    string `json:"snapshot"`
			Provisioned *int64 `json:"provisioned_size"`
			Used        *int64 `json:"used_size"`
		} `json:"images"`
	}
	if err := decode(out, "rbd du", &du); err != nil {
		return 0, 0, err
	}
	for _, im := range du.Images {
		if im.Snapshot != "" || im.Name != image || im.Provisioned == nil || im.Used == nil {
			continue
		}
		if *im.Provisioned < 0 || *im.Used < 0 {
			break
		}
		return *im.Provisioned, *im.Used, nil
	}
	return 0, 0, fmt.Errorf("rbd du reported no usage of image %s", image)
}

// ParseDF reads `ceph df --format json` for pool: the bytes it stores and
// the bytes it can still take (max_avail, after replication). found is
// false when the cluster has no such pool.
func ParseDF(out []byte, pool string) (st storage.Status, found bool, err error) {
	var df struct {
		Pools []struct {
			Name  string `json:"name"`
			Stats struct {
				Stored    *float64 `json:"stored"`
				BytesUsed *float64 `json:"bytes_used"`
				MaxAvail  *float64 `json:"max_avail"`
			} `json:"stats"`
		} `json:"pools"`
	}
	if err := decode(out, "ceph df", &df); err != nil {
		return storage.Status{}, false, err
	}
	for _, p := range df.Pools {
		if p.Name != pool {
			continue
		}
		used := p.Stats.Stored
		if used == nil {
			used = p.Stats.BytesUsed // before Ceph 14
		}
		if used == nil || p.Stats.MaxAvail == nil {
			return storage.Status{}, false, fmt.Errorf("ceph df has no usage figures for pool %s", pool)
		}
		u, uok := bytesOf(*used)
		a, aok := bytesOf(*p.Stats.MaxAvail)
		if !uok || !aok || u > math.MaxInt64-a {
			return storage.Status{}, false, fmt.Errorf("ceph df reports implausible figures for pool %s", pool)
		}
		return storage.Status{Active: true, Used: u, Avail: a, Total: u + a}, true, nil
	}
	return storage.Status{}, false, nil
}

// bytesOf takes a byte count that JSON may carry as a float.
func bytesOf(f float64) (int64, bool) {
	if f < 0 || f >= math.MaxInt64 || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, false
	}
	return int64(f), true
}
