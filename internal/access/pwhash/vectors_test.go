package pwhash

import (
	"strings"
	"testing"
)

// specVectors are the test vectors published with the SHA-crypt
// specification: all seven for each variant. Setting is what a caller of
// crypt(3) passes as salt; want is the full result.
var specVectors = []struct {
	variant  Variant
	salt     string
	rounds   int // 0: no rounds= in the setting
	password string
	want     string
}{
	{SHA256, "saltstring", 0, "Hello world!",
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{SHA256, "saltstringsaltstring", 10000, "Hello world!",
		"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
	{SHA256, "toolongsaltstring", 5000, "This is just a test",
		"$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"},
	{SHA256, "anotherlongsaltstring", 1400, "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"},
	{SHA256, "short", 77777, "we have a short salt string but not a short password",
		"$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/"},
	{SHA256, "asaltof16chars..", 123456, "a short string",
		"$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD"},
	{SHA256, "roundstoolow", 10, "the minimum number is still observed",
		"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"},

	{SHA512, "saltstring", 0, "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{SHA512, "saltstringsaltstring", 10000, "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{SHA512, "toolongsaltstring", 5000, "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{SHA512, "anotherlongsaltstring", 1400, "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	{SHA512, "short", 77777, "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	{SHA512, "asaltof16chars..", 123456, "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
	{SHA512, "roundstoolow", 10, "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
}

func TestHashWithReproducesSpecVectors(t *testing.T) {
	for _, v := range specVectors {
		t.Run(strings.TrimPrefix(v.want[:strings.LastIndexByte(v.want, '$')], "$"), func(t *testing.T) {
			t.Parallel()
			got, err := HashWith(v.password, v.salt, v.rounds, v.variant)
			if err != nil {
				t.Fatalf("HashWith: %v", err)
			}
			if got != v.want {
				t.Errorf("HashWith = %s\nwant       %s", got, v.want)
			}
		})
	}
}

func TestVerifyAcceptsSpecVectors(t *testing.T) {
	for _, v := range specVectors {
		t.Run(strings.TrimPrefix(v.want[:strings.LastIndexByte(v.want, '$')], "$"), func(t *testing.T) {
			t.Parallel()
			ok, err := Verify(v.want, v.password)
			if err != nil || !ok {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, err = Verify(v.want, v.password+"x")
			if err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}
