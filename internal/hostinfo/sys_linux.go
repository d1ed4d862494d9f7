//go:build linux

package hostinfo

import "golang.org/x/sys/unix"

func uname() (Kernel, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Kernel{}, err
	}
	return Kernel{
		Sysname: unix.ByteSliceToString(u.Sysname[:]),
		Release: unix.ByteSliceToString(u.Release[:]),
		Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}, nil
}

func statfs(path string) (FS, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FS{}, err
	}
	// Block counts are in units of the fragment size; Frsize is 0 on old
	// kernels, where Bsize is the unit.
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	total := int64(st.Blocks * unit)
	free := int64(st.Bfree * unit)
	return FS{Total: total, Free: free, Used: total - free, Avail: int64(st.Bavail * unit)}, nil
}
