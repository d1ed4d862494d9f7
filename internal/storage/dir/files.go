package dir

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/hearth-virt/hearth/internal/storage"
)

// Backups keep their notes and protection beside the archive, as
// Proxmox VE does: <archive>.notes holds the notes, and the presence of
// <archive>.protected protects it from removal and pruning.
const (
	notesExt     = ".notes"
	protectedExt = ".protected"
)

// List returns the volumes of vmid (0: all) of the given content types
// (none: all the storage holds). Only the content types the storage is
// configured to hold are listed; ISO images and templates belong to no
// guest and are left out when vmid is given.
func (s *Store) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	var out []storage.Volume
	if s.wants(content, storage.Images) || s.wants(content, storage.Rootdir) {
		imgs, err := s.listImages(ctx, vmid)
		if err != nil {
			return nil, err
		}
		out = append(out, s.FilterImages(imgs, content)...)
	}
	files, err := s.ListFiles(ctx, vmid, content)
	if err != nil {
		return nil, err
	}
	out = append(out, files...)
	storage.SortVolumes(out)
	return out, nil
}

// wants reports whether a listing for content (none: everything) that
// the storage holds includes c.
func (s *Store) wants(content []storage.Content, c storage.Content) bool {
	return s.Holds(c) && (len(content) == 0 || slices.Contains(content, c))
}

// FilterImages keeps the images whose content type (images for disks,
// rootdir for subvolumes) the listing asks for and the storage holds.
func (s *Store) FilterImages(vols []storage.Volume, content []storage.Content) []storage.Volume {
	var out []storage.Volume
	for _, v := range vols {
		if s.wants(content, v.Content) {
			out = append(out, v)
		}
	}
	return out
}

// ListFiles lists the content kept as plain files (ISO images, container
// templates, backups, snippets, import sources) of the given types.
func (s *Store) ListFiles(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	var out []storage.Volume
	for _, c := range []storage.Content{storage.ISO, storage.VZTmpl, storage.Backup, storage.Snippets, storage.Import} {
		if !s.wants(content, c) || (vmid != 0 && c != storage.Backup) {
			continue
		}
		dir, _ := s.ContentDir(c)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, s.errorf("read %s: %v", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			v, err := storage.ParseFileVolname(storage.FileVolname(storage.Vol{Content: c, Name: e.Name()}))
			if err != nil || v.Content != c || (c == storage.Backup && !backupArchiveRE.MatchString(e.Name())) {
				continue
			}
			vol, err := s.fileVolume(filepath.Join(dir, e.Name()), v)
			if err != nil {
				continue // removed while listing
			}
			if vmid != 0 && vol.VMID != vmid {
				continue
			}
			out = append(out, vol)
		}
	}
	return out, nil
}

// backupArchiveRE matches the archives vzdump writes (and leaves out
// their logs, notes and protection markers).
var backupArchiveRE = regexp.MustCompile(`\.(tgz|tar|tar\.(gz|lzo|zst|bz2|xz)|vma|vma\.(gz|lzo|zst))$`)

// backupNameRE finds the guest and time in a vzdump archive name.
var backupNameRE = regexp.MustCompile(`-([1-9][0-9]{2,8})-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.`)

// fileVolume describes a file of non-image content.
func (s *Store) fileVolume(path string, v storage.Vol) (storage.Volume, error) {
	st, err := os.Stat(path)
	if err != nil {
		return storage.Volume{}, s.errorf("volume %s does not exist", storage.FileVolname(v))
	}
	vol := storage.Volume{Volname: storage.FileVolname(v), Content: v.Content, Format: v.Format,
		Size: st.Size(), Used: st.Size(), VMID: v.VMID, CTime: ctime(st)}
	if v.Content != storage.Backup {
		return vol, nil
	}
	if m := backupNameRE.FindStringSubmatch(v.Name); m != nil {
		vol.VMID, _ = strconv.Atoi(m[1])
		n := make([]int, 6)
		for i := range n {
			n[i], _ = strconv.Atoi(m[2+i])
		}
		// vzdump names archives in the node's local time.
		vol.CTime = time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.Local).Unix()
	}
	vol.Notes = firstLine(path + notesExt)
	_, err = os.Stat(path + protectedExt)
	vol.Protected = err == nil
	return vol, nil
}

func firstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}

// freeFile removes a file of non-image content; a backup goes with its
// notes and log, and a protected one is refused.
func (s *Store) freeFile(path string, v storage.Vol) error {
	volname := storage.FileVolname(v)
	if v.Content == storage.Backup {
		if _, err := os.Stat(path + protectedExt); err == nil {
			return s.errorf("backup %s is protected; remove the protection first", volname)
		}
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.errorf("volume %s does not exist", volname)
		}
		return s.errorf("remove %s: %v", volname, err)
	}
	if v.Content == storage.Backup {
		for _, aux := range []string{path + notesExt, backupLog(path)} {
			if err := os.Remove(aux); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.warn("could not remove a backup's companion file", "file", aux, "error", err)
			}
		}
	}
	return nil
}

// backupLog is the log vzdump writes beside an archive.
func backupLog(archive string) string {
	if loc := backupArchiveRE.FindStringIndex(archive); loc != nil {
		return archive[:loc[0]] + ".log"
	}
	return archive + ".log"
}

// backupPath resolves a backup volume, which must exist.
func (s *Store) backupPath(volname string) (string, error) {
	path, v, err := s.Path(volname)
	if err != nil {
		return "", err
	}
	if v.Content != storage.Backup {
		return "", s.errorf("%s: notes and protection are kept for backups only", volname)
	}
	if _, err := os.Stat(path); err != nil {
		return "", s.errorf("volume %s does not exist", volname)
	}
	return path, nil
}

// Notes returns the notes of a backup ("" when it has none).
func (s *Store) Notes(ctx context.Context, volname string) (string, error) {
	path, err := s.backupPath(volname)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path + notesExt)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", s.errorf("read the notes of %s: %v", volname, err)
	}
	return string(data), nil
}

// SetNotes replaces the notes of a backup; empty notes remove the file.
func (s *Store) SetNotes(ctx context.Context, volname, notes string) error {
	path, err := s.backupPath(volname)
	if err != nil {
		return err
	}
	file := path + notesExt
	if notes == "" {
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.errorf("remove the notes of %s: %v", volname, err)
		}
		return nil
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(notes), 0o644); err != nil {
		return s.errorf("write the notes of %s: %v", volname, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return s.errorf("write the notes of %s: %v", volname, err)
	}
	return nil
}

// Protected reports whether a backup is protected.
func (s *Store) Protected(ctx context.Context, volname string) (bool, error) {
	path, err := s.backupPath(volname)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(path + protectedExt)
	return err == nil, nil
}

// SetProtected protects a backup from removal and pruning, or lifts the
// protection. With max-protected-backups set, protecting one more backup
// of a guest than it allows is refused (the API applies the limit of 5
// for users without Datastore.Allocate when the option is unset).
func (s *Store) SetProtected(ctx context.Context, volname string, protected bool) error {
	path, err := s.backupPath(volname)
	if err != nil {
		return err
	}
	file := path + protectedExt
	if !protected {
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.errorf("unprotect %s: %v", volname, err)
		}
		return nil
	}
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	if s.maxProtected >= 0 {
		vol, err := s.Volume(ctx, volname)
		if err != nil {
			return err
		}
		if vol.VMID != 0 {
			others, err := s.ListFiles(ctx, vol.VMID, []storage.Content{storage.Backup})
			if err != nil {
				return err
			}
			n := 0
			for _, o := range others {
				if o.Protected && o.Volname != volname {
					n++
				}
			}
			if n >= s.maxProtected {
				return s.errorf("the number of protected backups per guest is limited to %d on this storage", s.maxProtected)
			}
		}
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return s.errorf("protect %s: %v", volname, err)
	}
	return f.Close()
}
