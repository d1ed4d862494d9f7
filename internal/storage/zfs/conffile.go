package zfs

import (
	"context"
	"fmt"
	"strings"
)

// confFile is the configuration file of a target that keeps its LUNs
// only there (istgt) or also there (IET): read over ssh from the first
// of its usual places that exists, edited here, and written back in one
// piece, as Proxmox VE's modules for these targets do.
type confFile struct {
	s      *Storage
	places []string // where the file may be, in order
	path   string   // where it was found
	text   string
	loaded bool
}

// load reads the file unless this operation already did.
func (c *confFile) load(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	for _, p := range c.places {
		out, err := c.s.remote(ctx, "cat", p)
		if err != nil {
			if strings.Contains(exitStderr(err), "No such file or directory") {
				continue
			}
			return err
		}
		if strings.TrimSpace(string(out)) == "" {
			continue
		}
		c.path, c.text, c.loaded = p, string(out), true
		return nil
	}
	return fmt.Errorf("no target configuration on %s (%s); is the target installed?", c.s.host, strings.Join(c.places, ", "))
}

// save writes text to the file: to a new file first, moved over the old
// one, so the target never reads half a configuration. The paths are
// constants; the remote shell joins the words.
func (c *confFile) save(ctx context.Context, text string) error {
	tmp := c.path + ".hearth-new"
	cmd := c.s.sshCmd("cat", ">", tmp, "&&", "mv", tmp, c.path)
	cmd.Stdin = strings.NewReader(text)
	if _, err := c.s.run(ctx, cmd); err != nil {
		return fmt.Errorf("writing %s failed: %w", c.path, err)
	}
	c.text = text
	return nil
}

// lines splits a configuration text into lines without their ends.
func lines(text string) []string {
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// join is the inverse of lines.
func join(l []string) string { return strings.Join(l, "\n") + "\n" }

// freeLUN is the lowest LUN number below max that used does not hold.
func freeLUN(used map[int]bool, max int) (int, error) {
	for n := 0; n < max; n++ {
		if !used[n] {
			return n, nil
		}
	}
	return 0, fmt.Errorf("the target has no free LUN number (all %d taken)", max)
}
