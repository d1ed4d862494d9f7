package access

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// setPAMPassword changes the password of a host account on this node, as
// Proxmox VE does for the pam realm: accounts are per host, so on a
// cluster each node keeps its own.
func (s *Service) setPAMPassword(ctx context.Context, userid, password string) error {
	name := userid[:strings.LastIndexByte(userid, '@')]
	cmd := exec.CommandContext(ctx, "chpasswd")
	// The password goes through stdin, never the command line, where every
	// local user could read it.
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("changing the host password of %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
