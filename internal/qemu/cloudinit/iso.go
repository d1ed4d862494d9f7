package cloudinit

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/runner"
)

// StageSuffix and TempSuffix name the working files WriteISO keeps next to
// the image while it builds it: the directory of files fed to genisoimage
// and the image before it is renamed into place.
const (
	StageSuffix = ".files"
	TempSuffix  = ".tmp"
)

// WriteISO packs files into an ISO 9660 image (Rock Ridge and Joliet names,
// so every guest sees the exact paths) with the given volume label, by
// which the guest finds the drive, and puts it at dst. The image is built
// beside dst and renamed over it, so a failure leaves the old drive as it
// was. The files may hold a password hash, so the working copies and the
// image are readable by root only.
func WriteISO(ctx context.Context, run runner.Runner, files Files, label, dst string) error {
	if label == "" || len(label) > 32 || strings.ContainsAny(label, " /\\\x00") {
		return fmt.Errorf("volume label %q: expected 1 to 32 characters without spaces or slashes (cidata, config-2, CONTEXT)", label)
	}
	if len(files) == 0 {
		return fmt.Errorf("write cloud-init image %s: no files given", dst)
	}
	for name := range files {
		if !filepath.IsLocal(name) || path.Clean(name) != name || strings.Contains(name, `\`) {
			return fmt.Errorf("cloud-init file name %q: expected a clean relative path inside the image", name)
		}
	}
	stage, tmp := dst+StageSuffix, dst+TempSuffix
	// Leftovers of an interrupted run would end up in the image.
	if err := os.RemoveAll(stage); err != nil {
		return fmt.Errorf("write cloud-init image %s: %w", dst, err)
	}
	defer func() { _ = os.RemoveAll(stage) }()
	if err := os.Mkdir(stage, 0o700); err != nil {
		return fmt.Errorf("write cloud-init image %s: %w", dst, err)
	}
	for _, name := range files.Names() {
		p := filepath.Join(stage, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("write cloud-init image %s: %w", dst, err)
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o600); err != nil {
			return fmt.Errorf("write cloud-init image %s: %w", dst, err)
		}
	}
	_ = os.Remove(tmp)
	cmd := runner.Cmd{Name: "genisoimage", Args: []string{
		"-quiet", "-iso-level", "3", "-R", "-J", "-V", label, "-o", tmp, stage,
	}}
	if _, err := run.Run(ctx, cmd); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write cloud-init image %s: %w", dst, err)
	}
	if err := finish(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write cloud-init image %s: %w", dst, err)
	}
	return nil
}

// finish makes the built image durable and moves it into place.
func finish(tmp, dst string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("genisoimage left no image: %w", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(dst))
	}
	return err
}
