package natnet

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ruleset renders the network's table. The first two lines make the file
// replace the table atomically as a whole: "table" creates it when it is
// missing (and is a no-op otherwise), so the "delete" that follows cannot
// fail, and nft applies the three statements in one transaction.
func ruleset(c Config) string {
	var b strings.Builder
	t := c.Table()
	fmt.Fprintf(&b, "table inet %s\n", t)
	fmt.Fprintf(&b, "delete table inet %s\n", t)
	fmt.Fprintf(&b, "table inet %s {\n", t)
	b.WriteString("\tchain forward {\n")
	b.WriteString("\t\ttype filter hook forward priority filter; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q accept\n", c.Bridge)
	fmt.Fprintf(&b, "\t\toifname %q accept\n", c.Bridge)
	b.WriteString("\t}\n")
	b.WriteString("\tchain postrouting {\n")
	b.WriteString("\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	fmt.Fprintf(&b, "\t\tip saddr %s oifname != %q masquerade\n", c.Subnet, c.Bridge)
	b.WriteString("\t}\n")
	b.WriteString("}\n")
	return b.String()
}

// removal renders a script that deletes the table whether or not it
// exists.
func removal(c Config) string {
	return fmt.Sprintf("table inet %s\ndelete table inet %s\n", c.Table(), c.Table())
}

// nft feeds script to "nft -f -". The caller runs it in the network's
// namespace.
func nft(ctx context.Context, nftPath, script string) error {
	cmd := exec.CommandContext(ctx, nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f -: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
