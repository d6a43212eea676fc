package sip

import (
	"errors"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// FuzzDigestParseCredentials feeds Authorization header values from the
// network to the parser and the whole verification path. It checks that
// nothing panics, that a successful parse has the mandatory fields, that
// every failure is an ErrAuth... value, and that re-serialising a parsed
// header parses back to the same fields.
//
//	go test ./sip -run '^$' -fuzz FuzzDigestParseCredentials -fuzztime 30s
func FuzzDigestParseCredentials(f *testing.F) {
	seeds := []string{
		`Digest username="alice", realm="teamline.test", nonce="abc", uri="sip:teamline.test", response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="0a4f113b"`,
		`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		`digest username="a\"b", realm="r", nonce="n", uri="sip:r", response="x"`,
		`Digest username = "a" , realm = "r" ,nonce="n",uri="sip:r",response="x",qop="auth",nc="00000002",cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", nonce="m", uri="sip:r", response="x"`,
		`Digest username="a, realm="r`,
		`Digest ,,,="`,
		`Digest username="\`,
		`Digest`,
		`Basic YWxpY2U6cHc=`,
		"Digest username=\"a\",\r\n realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\"",
		`Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", qop=auth, nc=ffffffff, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", userhash=true`,
		"Digest usernAme=\"0\",reAlm=,uri=,nonCe=000,response=\"\r\"",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	c := NewDigestChallenger(testRealm, testAccounts)
	f.Fuzz(func(t *testing.T, s string) {
		cred, err := digestParseCredentials(s)
		if err != nil {
			if !errors.Is(err, ErrAuthMalformed) && !errors.Is(err, ErrAuthAlgorithm) {
				t.Fatalf("error %v is no ErrAuth... value", err)
			}
		} else {
			if cred.username == "" || cred.nonce == "" || cred.response == "" {
				t.Fatalf("parsed without mandatory fields: %+v", cred)
			}
			if cred.qop != "" && (cred.nc == 0 || len(cred.ncRaw) != 8 || cred.cnonce == "") {
				t.Fatalf("qop without nc/cnonce: %+v", cred)
			}
			again, err := digestParseCredentials(fuzzFormatCredentials(&cred))
			if err != nil {
				t.Fatalf("re-parse of %q: %v", fuzzFormatCredentials(&cred), err)
			}
			if again != cred {
				t.Fatalf("round trip:\n got %+v\nwant %+v", again, cred)
			}
		}

		req := testRegister(t, "alice", gosip.NewHeader("Authorization", s))
		res := c.Verify(req)
		if res.OK() {
			t.Fatalf("fuzzed header authenticated: %q", s)
		}
	})
}

// fuzzFormatCredentials writes cred back as a header, quoting every value.
func fuzzFormatCredentials(c *digestCredentials) string {
	var b strings.Builder
	b.WriteString("Digest ")
	add := func(k, v string) {
		if v == "" && k != "realm" && k != "uri" {
			return
		}
		if b.Len() > len("Digest ") {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		digestQuoteTo(&b, v)
		b.WriteString(`"`)
	}
	add("username", c.username)
	add("realm", c.realm)
	add("nonce", c.nonce)
	add("uri", c.uri)
	add("response", c.response)
	add("algorithm", c.algorithm)
	add("cnonce", c.cnonce)
	add("opaque", c.opaque)
	add("qop", c.qop)
	add("nc", c.ncRaw)
	return b.String()
}
