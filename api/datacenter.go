package api

import "github.com/hearth-virt/hearth/api/schema"

// TagPattern matches one guest tag, the same set as the pve-tag format.
// It is spelled without inline flags so that the patterns built from it
// are also valid in JSON Schema (the OpenAPI document copies them).
const TagPattern = `[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*`

// tagListPattern is a ';'-separated list of at least one tag, the way
// datacenter.cfg stores tag lists.
const tagListPattern = `(?:` + TagPattern + `)(?:;(?:` + TagPattern + `))*`

// tagColorPattern is one entry of tag-style's color-map: a tag, its
// background colour and optionally its text colour, six hex digits each.
const tagColorPattern = `(?:` + TagPattern + `):[0-9a-fA-F]{6}(?::[0-9a-fA-F]{6})?`

// DatacenterOptions returns the schema of every option of datacenter.cfg,
// keyed by option name; the options are also the parameters of PUT
// /cluster/options. Each call builds fresh values, so callers may adjust
// their copy. Constraints the schema type cannot express (a crs key that
// needs ha-auto-rebalance, next-id's lower below its upper) are stated in
// the descriptions and checked by internal/datacenter.
func DatacenterOptions() schema.Props {
	opt := func(s schema.Schema) *schema.Schema { return s.Opt() }
	placeholder := func(hint, desc string) *schema.Schema {
		s := schema.Str(desc)
		s.FormatDescription = hint
		return s.Opt()
	}
	limit := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.Number, Minimum: schema.F(0), FormatDescription: "LIMIT", Description: desc}.Opt()
	}
	nonNegative := func(desc string, def float64) *schema.Schema {
		return schema.Schema{Type: schema.Number, Minimum: schema.F(0), Description: desc}.Def(def).Ptr()
	}
	cidr := func(desc string) *schema.Schema {
		return schema.Schema{Type: schema.String, Format: "CIDR", FormatDescription: "CIDR", Description: desc}.Opt()
	}
	// transport is the shape shared by migration and replication: a
	// required default key saying whether traffic is tunnelled through SSH,
	// and the network to use. The type key is required although it has a
	// default, as in Proxmox VE: "network=…" alone is refused.
	transport := func(typeDesc, netDesc string) *schema.PropString {
		t := schema.Enum(typeDesc, "secure", "insecure")
		t.Default = "secure"
		t.DefaultKey = true
		return schema.NewPropString(schema.Props{"type": &t, "network": cidr(netDesc)})
	}
	prop := func(desc string, ps *schema.PropString) *schema.Schema {
		return &schema.Schema{Type: schema.String, Optional: true, Description: desc, Prop: ps}
	}
	shutdownPolicy := schema.Enum("What happens to the HA services of a node that is shut down or rebooted: "+
		"freeze keeps them on the node and never recovers them elsewhere; failover lets the HA manager recover them on other nodes "+
		"if the node does not come back soon; conditional freezes them on a reboot and recovers them after a power-off; "+
		"migrate first moves the services that run there onto other nodes, and back once the node returns.",
		"freeze", "failover", "conditional", "migrate")
	shutdownPolicy.Default = "conditional" // required, yet with a default, as Proxmox VE declares it

	return schema.Props{
		"bwlimit": prop("Bandwidth caps in KiB/s for disk-heavy operations: one per kind of operation, and a default for the kinds without one.",
			schema.NewPropString(schema.Props{
				"clone":     limit("Cap for copying disks while cloning a guest, in KiB/s."),
				"default":   limit("Cap for every operation without a cap of its own, in KiB/s."),
				"migration": limit("Cap for moving guests between nodes, local disks included, in KiB/s."),
				"move":      limit("Cap for moving a disk to another storage, in KiB/s."),
				"restore":   limit("Cap while a backup is restored into a guest, in KiB/s."),
			})),
		"consent-text": schema.Schema{Type: schema.String, MaxLength: 65536,
			Description: "Notice the web interface shows before the login form; users acknowledge it before they can sign in."}.Opt(),
		"console": opt(schema.Enum("Console viewer the web interface opens by default: vv (SPICE in a virt-viewer compatible program), "+
			"html5 (noVNC), xtermjs (a text terminal) or applet (the retired Java viewer, now treated as html5). "+
			"A guest that cannot use the chosen viewer gets noVNC.",
			"applet", "vv", "html5", "xtermjs")),
		"crs": prop("Settings of the cluster resource scheduler, which places HA services on nodes.",
			schema.NewPropString(schema.Props{
				"ha": schema.Enum("How the HA manager picks the node to start or recover a service on: basic counts the services per node, "+
					"static also weighs the CPUs and memory the services are configured with, dynamic weighs what they actually use.",
					"basic", "static", "dynamic").Def("basic").Ptr(),
				"ha-auto-rebalance": schema.Bool("Move HA services on their own when the load of the nodes grows uneven.").Def(false).Ptr(),
				"ha-auto-rebalance-hold-duration": nonNegative("Number of consecutive HA manager rounds the imbalance must stay above "+
					"the threshold before a service is moved. Needs ha-auto-rebalance.", 3),
				"ha-auto-rebalance-margin": nonNegative("Smallest relative reduction of the imbalance that makes a move worthwhile. "+
					"Needs ha-auto-rebalance.", 0.1),
				"ha-auto-rebalance-method": schema.Enum("How candidate moves are scored. Needs ha-auto-rebalance.",
					"bruteforce", "topsis").Def("bruteforce").Ptr(),
				"ha-auto-rebalance-threshold": nonNegative("Imbalance of the nodes above which automatic rebalancing begins. "+
					"Needs ha-auto-rebalance.", 0.3),
				"ha-rebalance-on-start": schema.Bool("Let the scheduler choose the node when an HA service is asked to go from stopped to started.").Def(false).Ptr(),
			})),
		"description": schema.Schema{Type: schema.String, MaxLength: 65536,
			Description: "Free-form notes about the datacenter, displayed by the web interface. The file keeps them as comment lines at its top."}.Opt(),
		"email_from": schema.Schema{Type: schema.String, Format: "email-opt",
			Description: "Sender address of notification mails; without it, mails come from root@<host name>."}.Opt(),
		"fencing": schema.Enum("How the HA stack fences a failed node: with the watchdog, with the fence devices of ha/fence.cfg (hardware), "+
			"or with both. The hardware and both modes are experimental.",
			"watchdog", "hardware", "both").Def("watchdog").Ptr(),
		"ha": prop("Cluster-wide settings of the HA manager.",
			schema.NewPropString(schema.Props{"shutdown_policy": &shutdownPolicy})),
		"http_proxy": opt(schema.Pat("Proxy the nodes use for their downloads, such as http://user:password@proxy.example.com:3128/.", `http://.*`)),
		"keyboard": opt(schema.Enum("Keyboard layout VNC consoles use unless a guest sets its own.",
			"de", "de-ch", "da", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is", "it",
			"ja", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "sv", "sl", "tr")),
		"language": opt(schema.Enum("Language of the web interface unless the user picks another.",
			"ar", "ca", "da", "de", "en", "es", "eu", "fa", "fr", "hr", "he", "it", "ja", "ka", "kr", "nb", "nl",
			"nn", "pl", "pt_BR", "ru", "sl", "sv", "tr", "ukr", "zh_CN", "zh_TW")),
		"mac_prefix": schema.Schema{Type: schema.String, Format: "mac-prefix",
			Description: "Leading octets of the MAC addresses generated for guest network cards. BC:24:11 is the block the IEEE " +
				"registered to Proxmox Server Solutions and is meant for networks not reachable from the internet. Clusters whose guests " +
				"share a network should each extend it by one hex digit (BC:24:11:0, BC:24:11:1, ...) so their addresses cannot collide; " +
				"guests reachable from the internet deserve an OUI of your own."}.Def("BC:24:11").Ptr(),
		"max_workers": schema.Schema{Type: schema.Integer, Minimum: schema.F(1),
			Description: "How many tasks a node runs at once for bulk actions (such as starting or stopping every guest) and for the HA manager."}.Opt(),
		"migration": prop("Cluster-wide settings for moving guests between nodes.",
			transport("secure sends migration traffic through an SSH tunnel; insecure sends it unencrypted, which is faster "+
				"but only safe on a fully trusted network.",
				"Network, in CIDR notation, that migration traffic uses. Replication jobs use it too when replication names no network of its own.")),
		"migration_unsecure": schema.Bool("Deprecated, use migration's type instead: send migration traffic without the SSH tunnel.").Opt(),
		"next-id": prop("The range from which GET /cluster/nextid proposes free guest ids.",
			schema.NewPropString(schema.Props{
				"lower": schema.Schema{Type: schema.Integer, Minimum: schema.F(schema.VMIDMin), Maximum: schema.F(schema.VMIDMax),
					Description: "Smallest id proposed (inclusive)."}.Def(int64(100)).Ptr(),
				"upper": schema.Schema{Type: schema.Integer, Minimum: schema.F(schema.VMIDMin), Maximum: schema.F(schema.VMIDMax + 1),
					Description: "End of the range (exclusive): this id and the ones above it are never proposed. Must be above lower."}.Def(int64(1000000)).Ptr(),
			})),
		"notify": prop("Notification settings from before the notification system; only package-updates still has an effect.",
			schema.NewPropString(schema.Props{
				"fencing": opt(schema.Enum("No longer used; configure the notification system instead.", "always", "never")),
				"package-updates": schema.Enum("Deprecated in favour of the notification system. When the daily update check sends mail: "+
					"auto (every day on systems with a subscription), always (whenever updates are pending) or never.",
					"auto", "always", "never").Def("auto").Ptr(),
				"replication":            opt(schema.Enum("No longer used; configure the notification system instead.", "always", "never")),
				"target-fencing":         placeholder("TARGET", "No longer used; configure the notification system instead."),
				"target-package-updates": placeholder("TARGET", "No longer used; configure the notification system instead."),
				"target-replication":     placeholder("TARGET", "No longer used; configure the notification system instead."),
			})),
		"registered-tags": func() *schema.Schema {
			s := schema.Pat("Tags that only users with Sys.Modify on / may add to or remove from guests, separated by ';'. "+
				"This applies even when user-tag-access would otherwise allow them.", tagListPattern)
			s.TypeHint = "<tag>[;<tag>...]"
			return s.Opt()
		}(),
		"replication": prop("Cluster-wide settings for storage replication jobs.",
			transport("secure sends replication traffic through an SSH tunnel; insecure sends it unencrypted, which is faster "+
				"but only safe on a fully trusted network.",
				"Network, in CIDR notation, that replication traffic uses.")),
		"tag-style": prop("How the web interface shows and sorts guest tags.",
			schema.NewPropString(schema.Props{
				"case-sensitive": schema.Bool("Treat tags that differ only in letter case as different when duplicates are removed.").Def(false).Ptr(),
				"color-map": func() *schema.Schema {
					s := schema.Pat("Colours of individual tags: entries <tag>:<background>[:<text>] with six-digit hex colours, separated by ';'.",
						tagColorPattern+`(?:;`+tagColorPattern+`)*`)
					s.TypeHint = "<tag>:<hex-color>[:<hex-color-for-text>][;<tag>=...]"
					return s.Opt()
				}(),
				"ordering": schema.Enum("Order of a guest's tags: alphabetical, or as written in its configuration.",
					"config", "alphabetical").Def("alphabetical").Ptr(),
				"shape": schema.Enum("How tags appear in the resource tree: full (the whole tag), circle (a dot in the tag's colour), "+
					"dense (a small bar) or none.", "full", "circle", "dense", "none").Def("circle").Ptr(),
			})),
		"u2f": prop("Settings of the legacy U2F second factor.",
			schema.NewPropString(schema.Props{
				"appid":  placeholder("APPID", "AppId to use instead of the origin."),
				"origin": placeholder("URL", "Overrides the origin; handy when a single node is always reached under the same URL."),
			})),
		"user-tag-access": prop("Which tags users without Sys.Modify on / may add to or remove from the guests they manage.",
			schema.NewPropString(schema.Props{
				"user-allow": schema.Enum("none: no tags at all; list: the tags of user-allow-list; existing: those and any tag already "+
					"in use on a guest the user can see; free: any tag. Users with Sys.Modify on / are never limited.",
					"none", "list", "existing", "free").Def("free").Ptr(),
				"user-allow-list": func() *schema.Schema {
					s := schema.Pat("Tags users may use when user-allow is list or existing, separated by ';'.", tagListPattern)
					s.TypeHint = "<tag>[;<tag>...]"
					return s.Opt()
				}(),
			})),
		"webauthn": prop("Settings of the WebAuthn second factor.",
			schema.NewPropString(schema.Props{
				"allow-subdomains": schema.Bool("Accept an origin that is a subdomain of the configured one, not only the exact URL.").Def(true).Ptr(),
				"id": placeholder("DOMAINNAME", "The relying party id, which is the plain domain name (no scheme, port or path). "+
					"Every registered credential stops working when it changes."),
				"origin": placeholder("URL", "Origin of the site: the https:// URL (or http://localhost) through which users reach the web interface. "+
					"Registered credentials may stop working when it changes."),
				"rp": placeholder("RELYING_PARTY", "Display name of the relying party, free text. Registered credentials may stop working when it changes."),
			})),
	}
}

// ClusterOptionsParams is the input of PUT /cluster/options: the options
// to set arrive in Options with the types of their schemas (strings,
// int64 for max_workers, bool for migration_unsecure).
type ClusterOptionsParams struct {
	Delete  string         `json:"delete"`
	Digest  string         `json:"digest"`
	Options map[string]any `param:"rest"`
}

func clusterOptionsSetParams() schema.Props {
	p := DatacenterOptions()
	p["delete"] = schema.Schema{Type: schema.String, Format: "pve-configid-list", MaxLength: 4096,
		Description: "Options to remove, separated by commas; they fall back to their defaults. An option cannot be set and removed in one call."}.Opt()
	// Proxmox VE has no digest here; Hearth adds it (and returns it from
	// GET) so that a client can refuse to overwrite a concurrent change.
	p["digest"] = schema.Digest().Ptr()
	return p
}

// Datacenter option endpoints.
var (
	ClusterOptionsGet = Declare[NoParams, map[string]any](Endpoint{
		Path: "/cluster/options", Method: "GET", Name: "get_options",
		Description: "Read the datacenter options (datacenter.cfg). Options holding property strings are returned as objects, " +
			"tag lists as arrays, flags as 0 or 1, other values as strings; options that are not set are left out.",
		Perm: AnyUser("Callers without Sys.Audit on / receive only console, tag-style and allowed-tags."),
		Returns: schema.Schema{Type: schema.Object, AdditionalProperties: true,
			Description: "The options that are set, keyed by name, plus the entries below.",
			Properties: schema.Props{
				"description":  schema.Str("The datacenter notes; empty when there are none.").Opt(),
				"allowed-tags": schema.ArrayOf("Tags the caller may add to guests, sorted.", schema.Str("")).Ptr(),
				"digest":       schema.Str("SHA-1 of datacenter.cfg, for the digest parameter of PUT (a Hearth addition).").Opt(),
			}},
	})

	ClusterOptionsSet = Declare[ClusterOptionsParams, any](Endpoint{
		Path: "/cluster/options", Method: "PUT", Name: "set_options",
		Description: "Change datacenter options (datacenter.cfg): set the options given, remove those named in delete, " +
			"and leave the rest as they are.",
		Params: clusterOptionsSetParams(),
		Perm:   Perm("/", "Sys.Modify"), Protected: true,
		Returns: schema.Schema{Type: schema.Null},
	})
)
