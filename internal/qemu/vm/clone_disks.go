package vm

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// cloudInitSize is the size of a new cloud-init volume; the drive is
// rewritten from the configuration at every start.
const cloudInitSize = 4 << 20

// cloneDisk makes one disk of a clone that does not come through a
// running QEMU: a linked clone, a copy of an image at rest, or a new
// cloud-init volume.
func (s *Service) cloneDisk(ctx context.Context, p *clonePlan, dp diskPlan, log api.TaskLog) (*vmconf.Drive, error) {
	switch dp.kind {
	case diskLink:
		cl, ok := dp.src.st.(storage.Cloner)
		if !ok {
			return nil, fmt.Errorf("storage '%s' has no linked clones", dp.src.Storage)
		}
		name, err := cl.Clone(ctx, dp.src.Name, p.dst, p.snap)
		if err != nil {
			return nil, err
		}
		nd := newDrive(dp, dp.src.Storage+":"+name, dp.src.st, dp.src.vol.Format)
		log.Printf("%s: linked clone of %s is %s", dp.key, dp.src.ID, nd.File)
		return nd, nil
	case diskCloudInit:
		st, volname, err := s.allocClone(ctx, p.dst, dp, "vm-"+strconv.Itoa(p.dst)+"-cloudinit", cloudInitSize)
		if err != nil {
			return nil, err
		}
		nd := newDrive(dp, dp.target+":"+volname, st, dp.format)
		nd.Size = vmconf.Opt[int64]{}
		log.Printf("%s: new cloud-init drive %s", dp.key, nd.File)
		return nd, nil
	}
	size, err := s.sourceSize(ctx, dp, p.snap)
	if err != nil {
		return nil, err
	}
	st, volname, err := s.allocClone(ctx, p.dst, dp, "", size)
	if err != nil {
		return nil, err
	}
	volid := dp.target + ":" + volname
	log.Printf("%s: copying %s to %s (%s, %s)", dp.key, dp.src.ID, volid, dp.format, vmconf.FormatSize(size))
	if err := s.copyImage(ctx, dp.src, p.snap, p.running, st, volname, dp.format, p.bwlimit, dp.zeroed, log); err != nil {
		if ferr := st.Free(context.WithoutCancel(ctx), volname); ferr != nil {
			log.Warnf("removing %s: %v", volid, ferr)
		}
		return nil, err
	}
	nd := newDrive(dp, volid, st, dp.format)
	if !nd.Size.Set {
		nd.Size = vmconf.Opt[int64]{V: size, Set: true}
	}
	return nd, nil
}

// newDrive is the source's drive with its options, on a new volume.
func newDrive(dp diskPlan, volid string, st storage.Storage, format string) *vmconf.Drive {
	nd := *dp.drive
	nd.File = volid
	nd.ImportFrom = ""
	if _, isFile := st.(storage.FileStore); isFile || (format == "raw" && dp.drive.Format == "") {
		// File storages carry the format in the name.
		nd.Format = ""
	} else {
		nd.Format = format
	}
	return &nd
}

// allocClone allocates the volume of a copied or cloud-init drive on its
// target storage; name "" picks the next free disk name of vmid.
func (s *Service) allocClone(ctx context.Context, vmid int, dp diskPlan, name string, size int64) (storage.Storage, string, error) {
	_, st, err := s.o.Storage.Open(ctx, dp.target)
	if err != nil {
		return nil, "", err
	}
	if name != "" {
		if _, isFile := st.(storage.FileStore); isFile {
			name += "." + dp.format
		}
	}
	volname, err := st.Alloc(ctx, vmid, name, dp.format, size)
	if err != nil {
		return nil, "", fmt.Errorf("allocating %s on '%s': %w", vmconf.FormatSize(size), dp.target, err)
	}
	return st, volname, nil
}

// sourceSize is the size of the new volume of a copy: the image's
// virtual size, or for a snapshot the size it had then.
func (s *Service) sourceSize(ctx context.Context, dp diskPlan, snap string) (int64, error) {
	if snap != "" && dp.drive.Size.Set && dp.drive.Size.V > 0 {
		return dp.drive.Size.V, nil
	}
	v, err := dp.src.st.Volume(ctx, dp.src.Name)
	if err != nil {
		return 0, err
	}
	if v.Size <= 0 {
		return 0, fmt.Errorf("cannot read the size of %s", dp.src.ID)
	}
	return v.Size, nil
}

// copyImage copies a volume's data (or a snapshot's) into an existing
// volume with qemu-img, at most kibps KiB/s (0: no limit). A running
// source shares its images (-U): that is only done for snapshots, whose
// data QEMU does not change. When zeroed says the target reads as zeros
// (a new volume on a sparse or thin storage), only the source's data is
// written: the copy stays thin and the limit is about data, as qemu-img
// counts the zeros it writes against it.
func (s *Service) copyImage(ctx context.Context, src *volume, snap string, running bool, dst storage.Storage, volname, format string, kibps float64, zeroed bool, log api.TaskLog) error {
	// qcow2 keeps snapshots inside the image; other storages expose a
	// snapshot as a volume of its own.
	internal := snap != "" && src.vol.Format == "qcow2"
	attachSnap := snap
	if internal {
		attachSnap = ""
	}
	sa, err := src.st.Attach(ctx, src.Name, attachSnap)
	if err != nil {
		return err
	}
	da, err := dst.Attach(ctx, volname, "")
	if err != nil {
		return err
	}
	da.Format = format
	args := []string{"convert", "-p", "-n", "-O", format}
	if zeroed {
		args = append(args, "--target-is-zero")
	}
	if running {
		args = append(args, "-U")
	}
	if internal {
		args = append(args, "-l", "snapshot.name="+snap)
	}
	if kibps > 0 {
		args = append(args, "-r", strconv.FormatInt(int64(kibps*1024), 10))
	}
	args = append(args, imageSpec(sa), imageSpec(da))
	_, err = s.o.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: args, Stdout: &progressWriter{log: log}})
	return err
}

// imageSpec names a volume's format layer over its protocol node for
// qemu-img, the same way on every storage type.
func imageSpec(a storage.Attachment) string {
	return storage.BlockdevJSON(map[string]any{"driver": a.Format, "file": a.Blockdev})
}

// progressRE matches qemu-img's progress, "(42.17/100%)".
var progressRE = regexp.MustCompile(`\((\d+(?:\.\d+)?)/100%\)`)

// progressWriter turns qemu-img -p output into task progress.
type progressWriter struct {
	log  api.TaskLog
	last int64
}

func (w *progressWriter) Write(b []byte) (int, error) {
	m := progressRE.FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return len(b), nil
	}
	pct, err := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	if err != nil {
		return len(b), nil
	}
	// Progress in hundredths of a percent, at most every whole percent.
	done := int64(pct * 100)
	if done >= w.last+100 || done == 10000 {
		w.last = done
		w.log.Progress(done, 10000)
	}
	return len(b), nil
}
