package ctconf

// Features is the value of features: abilities a container gets beyond
// the default confinement. Absent flags are off.
type Features struct {
	Nesting, Keyctl, Fuse, MKNod, ForceRWSys Opt[bool]
	// Mount lists file system types the container may mount itself.
	Mount []string
}

func (f *Features) fields() []field {
	return []field{
		optField("nesting", &f.Nesting), optField("keyctl", &f.Keyctl), optField("fuse", &f.Fuse),
		optField("mknod", &f.MKNod), optField("force_rw_sys", &f.ForceRWSys), listField("mount", &f.Mount),
	}
}

// ParseFeatures parses the features value.
func ParseFeatures(value string) (*Features, error) {
	f := &Features{}
	if err := parseProp(propOf("features"), value, f); err != nil {
		return nil, err
	}
	return f, nil
}

// String prints the features canonically, their keys sorted.
func (f *Features) String() string { return printProp(propOf("features"), f) }
