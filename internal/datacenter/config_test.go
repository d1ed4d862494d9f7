package datacenter

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestSetValues covers every option family: what Set accepts, the
// canonical text it stores, and what it refuses with which explanation.
func TestSetValues(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // canonical text; "" with wantErr ""  means removed
		wantErr    string // substring of the error
	}{
		// bwlimit: non-negative numbers, sorted keys.
		{"bwlimit", "restore=100,clone=50.5", "clone=50.5,restore=100", ""},
		{"bwlimit", "default=0", "default=0", ""},
		{"bwlimit", "default=-1", "", "default: must be at least 0"},
		{"bwlimit", "clone=fast", "", `clone: expected a number, got "fast"`},
		{"bwlimit", "speed=1", "", `unknown key "speed"; allowed: clone, default, migration, move, restore`},
		{"bwlimit", "clone=1,clone=2", "", `key "clone" is given more than once`},
		{"bwlimit", "", "", ""},
		// consent-text and other free strings are kept as written.
		{"consent-text", "Only for staff: be nice", "Only for staff: be nice", ""},
		{"consent-text", "two\nlines", "", "line breaks are not allowed"},
		{"consent-text", strings.Repeat("x", 65537), "", "too long: at most 65536 characters"},
		// console: enum; applet maps to html5.
		{"console", "xtermjs", "xtermjs", ""},
		{"console", "applet", "html5", ""},
		{"console", "spice", "", `"spice" is not allowed; expected one of: applet, vv, html5, xtermjs`},
		// crs: enums, booleans normalised, the rebalance keys need the flag.
		{"crs", "ha=dynamic", "ha=dynamic", ""},
		{"crs", "ha-rebalance-on-start=yes,ha=static", "ha=static,ha-rebalance-on-start=1", ""},
		{"crs", "ha-auto-rebalance=1,ha-auto-rebalance-threshold=0.5,ha-auto-rebalance-method=topsis",
			"ha-auto-rebalance=1,ha-auto-rebalance-method=topsis,ha-auto-rebalance-threshold=0.5", ""},
		{"crs", "ha-auto-rebalance=0,ha-auto-rebalance-hold-duration=5", "ha-auto-rebalance=0,ha-auto-rebalance-hold-duration=5", ""},
		{"crs", "ha-auto-rebalance-margin=0.2", "", "ha-auto-rebalance-margin needs ha-auto-rebalance to be given too"},
		{"crs", "ha=fast", "", `ha: "fast" is not allowed; expected one of: basic, static, dynamic`},
		{"crs", "ha-auto-rebalance=1,ha-auto-rebalance-margin=-0.1", "", "ha-auto-rebalance-margin: must be at least 0"},
		// email_from: an address or empty.
		{"email_from", "pve@example.com", "pve@example.com", ""},
		{"email_from", "", "", ""},
		{"email_from", "nobody", "", "not a valid e-mail address"},
		// fencing: enum.
		{"fencing", "hardware", "hardware", ""},
		{"fencing", "ipmi", "", `"ipmi" is not allowed; expected one of: watchdog, hardware, both`},
		// ha: shutdown_policy is required, there is no default key.
		{"ha", "shutdown_policy=migrate", "shutdown_policy=migrate", ""},
		{"ha", "migrate", "", "has no default key"},
		{"ha", "shutdown_policy=reboot", "", `shutdown_policy: "reboot" is not allowed; expected one of: freeze, failover, conditional, migrate`},
		// http_proxy: must start with http://.
		{"http_proxy", "http://user:secret@proxy:3128/", "http://user:secret@proxy:3128/", ""},
		{"http_proxy", "https://proxy:3128/", "", "does not match the pattern http://.*"},
		// keyboard and language: enums.
		{"keyboard", "pt-br", "pt-br", ""},
		{"keyboard", "en", "", `"en" is not allowed`},
		{"language", "zh_TW", "zh_TW", ""},
		{"language", "en-us", "", `"en-us" is not allowed`},
		// mac_prefix: unicast prefixes, with an optional extra hex digit.
		{"mac_prefix", "BC:24:11:0", "BC:24:11:0", ""},
		{"mac_prefix", "02:00", "02:00", ""},
		{"mac_prefix", "01:00:00", "", "not a valid MAC address prefix"},
		// max_workers: integer from 1.
		{"max_workers", "16", "16", ""},
		{"max_workers", "0", "", "must be at least 1"},
		{"max_workers", "2.5", "", `expected an integer, got "2.5"`},
		// migration and replication: type is the (required) default key.
		{"migration", "network=10.1.0.0/16,type=insecure", "insecure,network=10.1.0.0/16", ""},
		{"migration", "secure", "secure", ""},
		{"migration", "network=10.1.0.0/16", "", `required key "type" is missing`},
		{"migration", "insecure,network=10.1.0.1", "", "not a network in CIDR notation"},
		{"migration", "fast", "", `type: "fast" is not allowed; expected one of: secure, insecure`},
		{"replication", "type=secure,network=fd00::/64", "secure,network=fd00::/64", ""},
		// next-id: bounds and the range check (upper exclusive).
		{"next-id", "upper=2000,lower=1000", "lower=1000,upper=2000", ""},
		{"next-id", "lower=100", "lower=100", ""},
		{"next-id", "upper=900 ,lower= 100", "lower=100,upper=900", ""},
		{"next-id", "lower=999999999,upper=1000000000", "lower=999999999,upper=1000000000", ""},
		{"next-id", "lower=99", "", "lower: must be at least 100"},
		{"next-id", "upper=1000000001", "", "upper: must be at most 1000000000"},
		{"next-id", "lower=500,upper=500", "", "the range is empty: lower (500) must be below upper (500)"},
		{"next-id", "lower=2000000", "", "the range is empty: lower (2000000) must be below upper (1000000)"},
		{"next-id", "upper=100", "", "the range is empty: lower (100) must be below upper (100)"},
		// notify: legacy keys still validated.
		{"notify", "package-updates=always,fencing=never", "fencing=never,package-updates=always", ""},
		{"notify", "package-updates=weekly", "", `"weekly" is not allowed`},
		// registered-tags: ';'-separated tags, sorted.
		{"registered-tags", "prod;dev;a.b+c", "a.b+c;dev;prod", ""},
		{"registered-tags", "prod,dev", "", "does not match the pattern"},
		{"registered-tags", "-bad", "", "does not match the pattern"},
		// tag-style: colours, enums, booleans.
		{"tag-style", "shape=none,color-map=prod:FF0000:ffffff;dev:00ff00", "color-map=prod:FF0000:ffffff;dev:00ff00,shape=none", ""},
		{"tag-style", "case-sensitive=true", "case-sensitive=1", ""},
		{"tag-style", "color-map=prod:red", "", "color-map:"},
		{"tag-style", "ordering=random", "", `"random" is not allowed; expected one of: config, alphabetical`},
		// u2f and webauthn: free text keys, quoting where needed.
		{"u2f", "origin=https://pve.example.com,appid=https://pve.example.com", "appid=https://pve.example.com,origin=https://pve.example.com", ""},
		{"webauthn", `rp="Example, Inc",allow-subdomains=no`, `allow-subdomains=0,rp="Example, Inc"`, ""},
		{"webauthn", "rpid=x", "", `unknown key "rpid"`},
		// user-tag-access: the list is sorted too.
		{"user-tag-access", "user-allow-list=web;db,user-allow=list", "user-allow=list,user-allow-list=db;web", ""},
		{"user-tag-access", "user-allow=some", "", `"some" is not allowed; expected one of: none, list, existing, free`},
		// Unknown options.
		{"no-such-option", "1", "", `unknown option "no-such-option"; known options: bwlimit, consent-text`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c := New()
			err := c.Set(tt.key, tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Set = %v, want error containing %q", err, tt.wantErr)
				}
				if len(c.Keys()) != 0 {
					t.Errorf("a refused value was stored: %v", c.Keys())
				}
				return
			}
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			got, ok := c.Get(tt.key)
			if ok != (tt.want != "" || !isProp(tt.key)) || got != tt.want {
				t.Errorf("stored %q (set %v), want %q", got, ok, tt.want)
			}
			// Whatever Set stores, Parse accepts unchanged.
			again, warnings := Parse(c.Bytes())
			if len(warnings) > 0 {
				t.Errorf("stored value draws warnings: %q", warnings)
			}
			if v, _ := again.Get(tt.key); v != got {
				t.Errorf("read back %q, want %q", v, got)
			}
		})
	}
}

func isProp(key string) bool { return options[key].Prop != nil }

func TestSetTrimsAndDeletes(t *testing.T) {
	c := New()
	if err := c.Set("keyboard", "  de \t"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("keyboard"); v != "de" {
		t.Errorf("keyboard = %q", v)
	}
	if err := c.Set("migration_unsecure", "1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("migration"); v != "insecure" {
		t.Errorf("migration_unsecure did not become migration's type: %q", v)
	}
	if _, ok := c.Get("migration_unsecure"); ok {
		t.Error("the retired flag was stored")
	}
	if err := c.Set("migration_unsecure", "0"); err == nil || !strings.Contains(err.Error(), "migration is set") {
		t.Errorf("migration_unsecure with migration set: %v", err)
	}
	if err := c.Set("description", "notes"); err != nil || c.Description() != "notes" {
		t.Errorf("description: %v %q", err, c.Description())
	}
	for _, key := range []string{"keyboard", "migration", "description", "bwlimit"} {
		if err := c.Delete(key); err != nil {
			t.Errorf("Delete(%s): %v", key, err)
		}
	}
	if len(c.Keys()) != 0 || c.Description() != "" {
		t.Errorf("left after deletes: %v %q", c.Keys(), c.Description())
	}
	if err := c.Delete("keybaord"); err == nil || !strings.Contains(err.Error(), `unknown option "keybaord"`) {
		t.Errorf("Delete of an unknown option: %v", err)
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
		keys       []string
	}{
		{"later line wins", "language: de\nlanguage: fr\n",
			[]string{"line 2: language is set again; this line replaces line 1"}, []string{"language"}},
		{"invalid later line keeps the earlier", "language: de\nlanguage: xx\n",
			[]string{`line 2: ignore language: "xx" is not allowed; expected one of: ` + strings.Join(options["language"].Enum, ", ")}, []string{"language"}},
		{"space before the colon", "keyboard : de\n",
			[]string{`line 1: ignore line: expected "<option>: <value>"`}, nil},
		{"no colon", "keyboard de\n",
			[]string{`line 1: ignore line: expected "<option>: <value>"`}, nil},
		{"unknown option", "colour: red\n",
			[]string{`line 1: ignore unknown option "colour"`}, nil},
		{"value with line noise", "keyboard:de  \n\t \nconsole:\tvv\n", nil, []string{"console", "keyboard"}},
		{"empty property string", "bwlimit:\n",
			[]string{"line 1: ignore bwlimit: it holds no settings"}, nil},
		{"indented comment", " #note\n",
			[]string{"line 1: indented comment ignored: only comments starting in the first column belong to the notes"}, nil},
		{"retired flag without migration", "migration_unsecure: 0\n",
			[]string{`line 1: deprecated migration_unsecure converted to "migration: secure"`}, []string{"migration"}},
		{"retired flag with migration", "migration_unsecure: 1\nmigration: secure\n",
			[]string{"line 1: deprecated migration_unsecure ignored: migration is set"}, []string{"migration"}},
		{"bad retired flag", "migration_unsecure: maybe\n",
			[]string{`line 1: ignore migration_unsecure: expected a boolean (1/0, true/false, yes/no, on/off), got "maybe"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings := Parse([]byte(tt.data))
			if !reflect.DeepEqual(warnings, tt.want) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, tt.want)
			}
			if got := c.Keys(); !reflect.DeepEqual(got, tt.keys) && (len(got) != 0 || len(tt.keys) != 0) {
				t.Errorf("keys = %v, want %v", got, tt.keys)
			}
		})
	}
}

func TestNotes(t *testing.T) {
	tests := []struct {
		name, notes string
		file        string // as written
		readBack    string // Description after Parse
	}{
		{"none", "", "\n", ""},
		{"one line", "Lab", "#Lab\n\n", "Lab\n"},
		{"trailing newlines dropped", "Lab\n\n\n", "#Lab\n\n", "Lab\n"},
		{"inner and leading empty lines kept", "\nA\n\nB", "#\n#A\n#\n#B\n\n", "\nA\n\nB\n"},
		{"escapes", "Tür: 100% %41\tx\r", "#T%C3%BCr%3A 100% %2541%09x%0D\n\n", "Tür: 100% %41\tx\r\n"},
		{"percent before hex at the end", "50%4", "#50%4\n\n", "50%4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			if err := c.Set("description", tt.notes); err != nil {
				t.Fatal(err)
			}
			if got := string(c.Bytes()); got != tt.file {
				t.Errorf("file %q, want %q", got, tt.file)
			}
			again, warnings := Parse(c.Bytes())
			if len(warnings) > 0 || again.Description() != tt.readBack {
				t.Errorf("read back %q (warnings %q), want %q", again.Description(), warnings, tt.readBack)
			}
		})
	}
	// Notes anywhere in the file are collected and move to the top.
	c, _ := Parse([]byte("keyboard: de\n#late note\n"))
	if got := string(c.Bytes()); got != "#late note\n\nkeyboard: de\n" {
		t.Errorf("got %q", got)
	}
	// Proxmox VE unescapes lower-case hex too.
	if got := decodeText("%c3%a9%3a"); got != "é:" {
		t.Errorf("decodeText = %q", got)
	}
}

// TestOptionsShape checks the answer of GET /cluster/options: objects for
// property strings, arrays for tag lists, numbers only for flags.
func TestOptionsShape(t *testing.T) {
	c, warnings := Parse([]byte("#Lab\n\n" +
		"bwlimit: clone=10,default=20\n" +
		"crs: ha=static,ha-rebalance-on-start=1\n" +
		"keyboard: de\n" +
		"max_workers: 4\n" +
		"migration: insecure,network=10.0.0.0/8\n" +
		"next-id: lower=200\n" +
		"registered-tags: a;b\n" +
		"tag-style: case-sensitive=0,shape=full\n" +
		"user-tag-access: user-allow=list,user-allow-list=x;y\n" +
		"webauthn: allow-subdomains=1,rp=R\n"))
	if len(warnings) > 0 {
		t.Fatal(warnings)
	}
	got, err := json.Marshal(c.Options())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bwlimit":{"clone":"10","default":"20"},` +
		`"crs":{"ha":"static","ha-rebalance-on-start":1},` +
		`"description":"Lab\n",` +
		`"keyboard":"de",` +
		`"max_workers":"4",` +
		`"migration":{"network":"10.0.0.0/8","type":"insecure"},` +
		`"next-id":{"lower":"200"},` +
		`"registered-tags":["a","b"],` +
		`"tag-style":{"case-sensitive":0,"shape":"full"},` +
		`"user-tag-access":{"user-allow":"list","user-allow-list":["x","y"]},` +
		`"webauthn":{"allow-subdomains":1,"rp":"R"}}`
	if string(got) != want {
		t.Errorf("Options:\n got %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(New().Options()); string(got) != `{"description":""}` {
		t.Errorf("empty Options: %s", got)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	c := New()
	_ = c.Set("keyboard", "de")
	d := c.Clone()
	_ = d.Set("keyboard", "fr")
	_ = d.Set("description", "x")
	if v, _ := c.Get("keyboard"); v != "de" || c.Description() != "" {
		t.Errorf("clone changed the original: %q %q", v, c.Description())
	}
}
