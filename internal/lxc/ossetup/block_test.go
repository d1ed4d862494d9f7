package ossetup

import "testing"

func TestWithBlock(t *testing.T) {
	const body = "new\n"
	cases := []struct {
		name    string
		in      string
		replace bool
		want    string
	}{
		{"empty file", "", false, "# --- BEGIN PVE ---\nnew\n# --- END PVE ---\n"},
		{"no section: goes on top", "user\n", false, "# --- BEGIN PVE ---\nnew\n# --- END PVE ---\nuser\n"},
		{"no section, replace", "template\n", true, "# --- BEGIN PVE ---\nnew\n# --- END PVE ---\n"},
		{"section updated where it is", "a\n# --- BEGIN PVE ---\nold\n# --- END PVE ---\nb", true, "a\n# --- BEGIN PVE ---\nnew\n# --- END PVE ---\nb"},
		{"markers with trailing blanks", "# --- BEGIN PVE --- \r\nold\n# --- END PVE ---\t\n", false, "# --- BEGIN PVE ---\nnew\n# --- END PVE ---\n"},
		{"only the first section", "# --- BEGIN PVE ---\n1\n# --- END PVE ---\n# --- BEGIN PVE ---\n2\n# --- END PVE ---\n", false,
			"# --- BEGIN PVE ---\nnew\n# --- END PVE ---\n# --- BEGIN PVE ---\n2\n# --- END PVE ---\n"},
		// A BEGIN without END is user text: nothing after it is lost.
		{"unterminated section", "x\n# --- BEGIN PVE ---\nkeep\n", false, "# --- BEGIN PVE ---\nnew\n# --- END PVE ---\nx\n# --- BEGIN PVE ---\nkeep\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := withBlock(c.in, body, c.replace)
			if got != c.want {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
			if again := withBlock(got, body, c.replace); again != got {
				t.Errorf("second run changed it: %q", again)
			}
		})
	}
}
