package lxcconf

import (
	"path"
	"strconv"
)

// commonSeccomp is the policy of LXC's shipped common.seccomp, which
// common.conf loads. A container can have only one seccomp profile, so a
// policy that adds rules must repeat these.
const commonSeccomp = `2
denylist
reject_force_umount
[all]
kexec_load errno 1
open_by_handle_at errno 1
init_module errno 1
finit_module errno 1
delete_module errno 1
`

// enosys is the errno that makes a system call look absent.
const enosys = 38

// SeccompPolicy returns the seccomp policy the configuration of s loads
// and the path Build refers to it by; the caller writes it there before
// lxc-start. A nil policy means LXC's shipped one is enough and nothing
// needs writing.
//
// The only addition is keyctl: in a user namespace many keyctl() calls
// fail with a permission error, which systemd-networkd treats as fatal,
// while a call that looks unimplemented is merely skipped. So unprivileged
// containers see keyctl as absent unless the keyctl feature asks for it
// (Docker needs it). Privileged containers keep it, as the feature's
// documentation says it applies to unprivileged ones only.
func SeccompPolicy(s *Spec) (file string, policy []byte, err error) {
	if err := validate(s); err != nil {
		return "", nil, err
	}
	file, policy = seccomp(s)
	return file, policy, nil
}

func seccomp(s *Spec) (string, []byte) {
	file := path.Join(s.LXCPath, strconv.Itoa(s.VMID), "rules.seccomp")
	if !userns(s) || s.Features.Keyctl {
		return file, nil
	}
	return file, []byte(commonSeccomp + "keyctl errno " + strconv.Itoa(enosys) + "\n")
}
