package ossetup

import "strings"

// The markers are Proxmox VE's, so that a container moved from Proxmox VE
// has its existing section updated instead of getting a second one.
const (
	beginMarker = "# --- BEGIN PVE ---"
	endMarker   = "# --- END PVE ---"
)

// managedBlock locates the first complete marked section of a file.
// before and after are the text around it; found is false when there is
// no BEGIN line followed by an END line.
func managedBlock(data string) (before, after string, found bool) {
	lines := strings.SplitAfter(data, "\n")
	start := -1
	for i, l := range lines {
		t := strings.TrimRight(l, " \t\r\n")
		switch {
		case start < 0 && t == beginMarker:
			start = i
		case start >= 0 && t == endMarker:
			return strings.Join(lines[:start], ""), strings.Join(lines[i+1:], ""), true
		}
	}
	return data, "", false
}

// withBlock puts body (complete lines) between the markers. An existing
// section is updated in place; otherwise the section goes to the top of
// the file, or replaces the file when replace is set.
func withBlock(data, body string, replace bool) string {
	block := beginMarker + "\n" + body + endMarker + "\n"
	before, after, found := managedBlock(data)
	switch {
	case found:
		if before != "" && !strings.HasSuffix(before, "\n") {
			before += "\n"
		}
		return before + block + after
	case replace:
		return block
	default:
		return block + data
	}
}

// outsideBlock is the file's text without its marked section: what the
// user wrote.
func outsideBlock(data string) string {
	before, after, _ := managedBlock(data)
	return before + after
}
