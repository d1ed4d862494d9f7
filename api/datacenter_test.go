package api

import (
	"testing"

	"github.com/hearth-virt/hearth/api/schema"
)

// TestDatacenterOptionKeys checks the keys inside the property strings,
// which the registry test does not walk: formats exist, defaults fit
// their schemas, and every key says what it is for.
func TestDatacenterOptionKeys(t *testing.T) {
	for name, s := range DatacenterOptions() {
		if s.Description == "" || !s.Optional {
			t.Errorf("%s: needs a description and must be optional", name)
		}
		if s.Prop == nil {
			continue
		}
		for key, ks := range s.Prop.Keys {
			where := name + "." + key
			checkSchema(t, where, ks)
			if ks.Description == "" {
				t.Errorf("%s: no description", where)
			}
			if ks.Default != nil && ks.Type == schema.String && ks.Enum == nil && ks.Format == "" {
				t.Errorf("%s: a default on a free string", where)
			}
		}
	}
}

// TestDatacenterOptionsAreFresh checks that each call builds new values,
// so one caller's change never reaches another.
func TestDatacenterOptionsAreFresh(t *testing.T) {
	a := DatacenterOptions()
	a["keyboard"].Enum[0] = "changed"
	a["next-id"].Prop.Keys["lower"].Default = int64(5)
	b := DatacenterOptions()
	if b["keyboard"].Enum[0] == "changed" || b["next-id"].Prop.Keys["lower"].Default != int64(100) {
		t.Error("DatacenterOptions shares values between calls")
	}
}

// TestClusterOptionsSetParams checks PUT's parameters: every option plus
// delete and digest, with the shapes Proxmox VE clients send.
func TestClusterOptionsSetParams(t *testing.T) {
	p := ClusterOptionsSet.E.Params
	if len(p) != len(DatacenterOptions())+2 || p["delete"] == nil || p["digest"] == nil {
		t.Fatalf("parameters: %v", p.Names())
	}
	good := schema.Raw{}
	for k, v := range map[string]string{
		"delete": "keyboard,language", "keyboard": "de", "max_workers": "4", "migration_unsecure": "yes",
		"migration": "insecure,network=10.0.0.0/24", "next-id": "lower=200,upper=300",
		"registered-tags": "a;b", "tag-style": "color-map=a:ff0000;b:00ff00:000000",
		"mac_prefix": "BC:24:11:1", "digest": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
	} {
		good.Set(k, v)
	}
	values, errs := schema.DecodeParams(p, good, false)
	if errs != nil {
		t.Fatal(errs)
	}
	if values["max_workers"] != int64(4) || values["migration_unsecure"] != true {
		t.Errorf("decoded: %#v", values)
	}
	for k, v := range map[string]string{
		"delete": "keyboard,1st", "keyboard": "xx", "max_workers": "0", "next-id": "lower=50",
		"registered-tags": "a,b", "http_proxy": "ftp://x", "digest": "nope", "migration": "network=10.0.0.0/8",
	} {
		raw := schema.Raw{}
		raw.Set(k, v)
		if _, errs := schema.DecodeParams(p, raw, false); errs[k] == "" {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}
