package hook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MountAll mounts the plan's file systems under p.Root, root first. It
// first clears whatever an earlier run left mounted there (a host that
// crashed with the container running), and unmounts what it mounted when
// one mount fails, so a failed start leaves nothing behind.
func MountAll(p *Plan) error {
	if err := UnmountAll(p.Root); err != nil {
		return err
	}
	if err := os.MkdirAll(p.Root, 0o755); err != nil {
		return err
	}
	for _, m := range p.Mounts {
		if err := mountOne(p, m); err != nil {
			if uerr := UnmountAll(p.Root); uerr != nil {
				err = errors.Join(err, uerr)
			}
			return fmt.Errorf("%s: %w", m.Key, err)
		}
	}
	return nil
}

func mountOne(p *Plan, m Mount) error {
	var target *os.File
	if m.Target == "/" {
		f, err := os.OpenFile(p.Root, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		target = f
	} else {
		f, err := openInRoot(p.Root, m.Target, p.UIDBase, p.GIDBase, m.Bind && !isDir(m.Source))
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		target = f
	}
	defer target.Close()
	// Mounting onto /proc/self/fd/N mounts on exactly the directory that
	// was opened safely, whatever the container's files do meanwhile.
	dst := "/proc/self/fd/" + strconv.Itoa(int(target.Fd()))
	flags, data := mountOptions(m.Options)
	switch {
	case m.Bind:
		if err := unix.Mount(m.Source, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s: %w", m.Source, err)
		}
		if flags != 0 || m.ReadOnly {
			if m.ReadOnly {
				flags |= unix.MS_RDONLY
			}
			// A bind mount takes its flags only from a remount; the path
			// is the same directory, now covered by the new mount.
			if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|flags, ""); err != nil {
				return fmt.Errorf("set the options of %s: %w", m.Target, err)
			}
		}
		return nil
	default:
		dev := m.Source
		if m.Loop {
			loop, err := attachLoop(m.Source, m.ReadOnly)
			if err != nil {
				return err
			}
			defer loop.Close()
			dev = loop.Name()
		}
		fstype := m.FSType
		if fstype == "" {
			t, err := probeFS(dev)
			if err != nil {
				return err
			}
			fstype = t
		}
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if err := unix.Mount(dev, dst, fstype, flags, data); err != nil {
			return fmt.Errorf("mount %s (%s): %w", m.Source, fstype, err)
		}
		return nil
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// mountOptions maps the mountoptions of a mount point to mount flags;
// discard is a file system option.
func mountOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		switch o {
		case "noatime":
			flags |= unix.MS_NOATIME
		case "nodev":
			flags |= unix.MS_NODEV
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "lazytime":
			flags |= unix.MS_LAZYTIME
		case "discard":
			data = append(data, "discard")
		}
	}
	return flags, strings.Join(data, ",")
}

// openInRoot opens (creating what is missing) the directory — or, for a
// bind-mounted file, the file — at path inside root, resolving symbolic
// links as if root were "/": a container cannot point a mount point at a
// host directory with a symlink. Created entries belong to uid:gid, the
// container's root.
func openInRoot(root, path string, uid, gid int, file bool) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rfd)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	parts := strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		fd, err := unix.Openat2(rfd, prefix, how)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
		pfd, err := unix.Openat2(rfd, "/"+strings.Join(parts[:i], "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: how.Resolve})
		if err != nil {
			return nil, err
		}
		if last && file {
			fd, err := unix.Openat(pfd, parts[i], unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				err = unix.Fchown(fd, uid, gid)
				unix.Close(fd)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(pfd)
				return nil, err
			}
		} else if err := unix.Mkdirat(pfd, parts[i], 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(pfd)
			return nil, err
		} else if err == nil {
			if err := unix.Fchownat(pfd, parts[i], uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				unix.Close(pfd)
				return nil, err
			}
		}
		unix.Close(pfd)
	}
	fd, err := unix.Openat2(rfd, path, how)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, path)), nil
}

// attachLoop binds an image file to a free loop device that frees itself
// once the file system on it is unmounted (autoclear), so post-stop only
// has to unmount.
func attachLoop(image string, ro bool) (*os.File, error) {
	mode := os.O_RDWR
	if ro {
		mode = os.O_RDONLY
	}
	img, err := os.OpenFile(image, mode, 0)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("loop devices: %w", err)
	}
	defer ctl.Close()
	for range 16 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		name := "/dev/loop" + strconv.Itoa(n)
		if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
			// Without udev nobody creates the node for a new device.
			if err := unix.Mknod(name, unix.S_IFBLK|0o660, int(unix.Mkdev(7, uint32(n)))); err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("create %s: %w", name, err)
			}
		}
		dev, err := os.OpenFile(name, mode, 0)
		if err != nil {
			return nil, err
		}
		cfg := &unix.LoopConfig{Fd: uint32(img.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		if ro {
			cfg.Info.Flags |= unix.LO_FLAGS_READ_ONLY
		}
		copy(cfg.Info.File_name[:], image)
		if err := unix.IoctlLoopConfigure(int(dev.Fd()), cfg); err != nil {
			dev.Close()
			if errors.Is(err, unix.EBUSY) {
				continue
			}
			return nil, fmt.Errorf("attach %s to %s: %w", image, name, err)
		}
		return dev, nil
	}
	return nil, fmt.Errorf("attach %s: no free loop device", image)
}

// probeFS reads the file system type from its superblock; mount(2) needs
// it and there is no blkid to ask.
func probeFS(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 0x10100)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	buf = buf[:n]
	switch {
	case len(buf) >= 1082 && buf[1080] == 0x53 && buf[1081] == 0xEF:
		return "ext4", nil // ext2/3/4 share the magic; ext4 mounts them all
	case bytes.HasPrefix(buf, []byte("XFSB")):
		return "xfs", nil
	case len(buf) >= 0x10048 && string(buf[0x10040:0x10048]) == "_BHRfS_M":
		return "btrfs", nil
	}
	return "", fmt.Errorf("%s: no ext4, xfs or btrfs file system found", dev)
}
