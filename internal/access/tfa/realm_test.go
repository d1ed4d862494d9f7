package tfa

import (
	"testing"
)

func TestRequiredType(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "", false},
		{"  ", "", false},
		{"type=oath", TypeTOTP, false},
		{"type=oath,step=30,digits=6", TypeTOTP, false},
		{"oath,digits=8", TypeTOTP, false},
		{"type=yubico,id=42,key=c2VjcmV0,url=https://api.example/verify", TypeYubico, false},
		{"type=sms", "", true},
		{"step=30", "", true},
		{"type=oath,digits=9", "", true},
		{"type=oath,step=5", "", true},
		{"type=oath,color=red", "", true},
		{"type=oath,type=yubico", "", true},
		{"type=oath,digits", "", true},
	} {
		got, err := RequiredType(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("RequiredType(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseRealmTFAParameters(t *testing.T) {
	r, err := ParseRealmTFA("type=oath, step=60 ,digits=8")
	if err != nil {
		t.Fatal(err)
	}
	if want := (RealmTFA{Type: "oath", Digits: 8, Step: 60}); r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	r, err = ParseRealmTFA("type=yubico,id=42,key=abc=,url=https://api.example/verify")
	if err != nil {
		t.Fatal(err)
	}
	if want := (RealmTFA{Type: "yubico", Digits: 6, Step: 30, ID: "42", Key: "abc=", URL: "https://api.example/verify"}); r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
}
