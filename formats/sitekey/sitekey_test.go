package sitekey_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apedge/apedge/formats/sitekey"
)

// rfc8032Seed is the secret key of RFC 8032 section 7.1, TEST 1.
const (
	rfc8032Seed   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfc8032Public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func seedBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFromSeedRFC8032(t *testing.T) {
	k, err := sitekey.FromSeed("MAN1", seedBytes(t, rfc8032Seed))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public()
	if got := hex.EncodeToString(pub.Key); got != rfc8032Public {
		t.Errorf("public key = %s, want %s", got, rfc8032Public)
	}
	sum := sha256.Sum256(seedBytes(t, rfc8032Public))
	wantID := hex.EncodeToString(sum[:])
	if k.ID != wantID || pub.ID != wantID || sitekey.KeyID(pub.Key) != wantID {
		t.Errorf("key ids = %s, %s, %s, want %s", k.ID, pub.ID, sitekey.KeyID(pub.Key), wantID)
	}
	if k.Site != "MAN1" || pub.Site != "MAN1" {
		t.Errorf("sites = %q, %q, want MAN1", k.Site, pub.Site)
	}
	// RFC 8032 TEST 1: the signature of the empty message.
	const wantSig = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
		"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
	if got := hex.EncodeToString(ed25519.Sign(k.Key, nil)); got != wantSig {
		t.Errorf("signature of the empty message = %s, want %s", got, wantSig)
	}
}

func TestFromSeedLength(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if k, err := sitekey.FromSeed("MAN1", make([]byte, n)); err == nil {
			t.Errorf("FromSeed with a %d-byte seed = %v, want an error", n, k)
		}
	}
}

func TestGenerate(t *testing.T) {
	seed := seedBytes(t, rfc8032Seed)
	k, err := sitekey.Generate("MAN1", bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	want, err := sitekey.FromSeed("MAN1", seed)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Key.Equal(want.Key) || k.ID != want.ID || k.Site != "MAN1" {
		t.Errorf("Generate from the RFC 8032 seed = %v, want %v", k, want)
	}

	a, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key.Equal(b.Key) || a.ID == b.ID {
		t.Error("two keys from crypto/rand are the same")
	}

	if _, err := sitekey.Generate("MAN1", bytes.NewReader(seed[:10])); err == nil {
		t.Error("Generate with a short random source succeeded")
	}
	for _, site := range []string{"", "bad site", "../etc", strings.Repeat("A", 33)} {
		if k, err := sitekey.Generate(site, nil); err == nil {
			t.Errorf("Generate(%q) = %v, want an error", site, k)
		}
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	for _, site := range []string{"MAN1", "AP-MAN-02", "x"} {
		t.Run(site, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			k, err := sitekey.Generate(site, nil)
			if err != nil {
				t.Fatal(err)
			}
			privPath, pubPath, err := sitekey.Write(dir, k)
			if err != nil {
				t.Fatal(err)
			}
			wantPriv, wantPub := sitekey.Paths(dir, site)
			if privPath != wantPriv || pubPath != wantPub {
				t.Errorf("Write paths = %s, %s, want %s, %s", privPath, pubPath, wantPriv, wantPub)
			}
			if wantPriv != filepath.Join(dir, site+".key") || wantPub != filepath.Join(dir, site+".pub") {
				t.Errorf("Paths = %s, %s", wantPriv, wantPub)
			}

			got, err := sitekey.LoadPrivate(privPath)
			if err != nil {
				t.Fatal(err)
			}
			if got.Site != site || got.ID != k.ID || !got.Key.Equal(k.Key) {
				t.Errorf("LoadPrivate = %v, want %v", got, k)
			}

			for _, arg := range []string{"", site} {
				pub, err := sitekey.LoadPublic(pubPath, arg)
				if err != nil {
					t.Fatalf("LoadPublic(%q): %v", arg, err)
				}
				if pub.Site != site || pub.ID != k.ID || !pub.Key.Equal(k.Public().Key) {
					t.Errorf("LoadPublic(%q) = %+v, want %+v", arg, pub, k.Public())
				}
			}

			// What the public file says is exactly EncodePublic, headers included.
			b, err := os.ReadFile(pubPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, sitekey.EncodePublic(k.Public())) {
				t.Errorf("public file differs from EncodePublic:\n%s", b)
			}
			blk, _ := pem.Decode(b)
			if blk == nil || blk.Headers["Site"] != site || blk.Headers["Key-Id"] != k.ID {
				t.Errorf("public file headers = %v, want Site %s and Key-Id %s", blk.Headers, site, k.ID)
			}

			// A signature made with the loaded private key verifies with the loaded
			// public key.
			pub, _ := sitekey.LoadPublic(pubPath, "")
			if !ed25519.Verify(pub.Key, []byte("m"), ed25519.Sign(got.Key, []byte("m"))) {
				t.Error("loaded keys do not pair")
			}
		})
	}
}

func TestWriteModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath, err := sitekey.Write(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("private key mode = %04o, want 0600", got)
	}
	st, err = os.Stat(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got&0o022 != 0 || got&0o400 == 0 {
		t.Errorf("public key mode = %04o, want owner-readable and not writable by others", got)
	}
	st, err = os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got&0o077 != 0 {
		t.Errorf("new key directory mode = %04o, want 0700", got)
	}
}

func TestWriteRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	first, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath, err := sitekey.Write(dir, first)
	if err != nil {
		t.Fatal(err)
	}
	wantPriv, _ := os.ReadFile(privPath)
	wantPub, _ := os.ReadFile(pubPath)

	second, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sitekey.Write(dir, second); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Write = %v, want fs.ErrExist", err)
	}
	for path, want := range map[string][]byte{privPath: wantPriv, pubPath: wantPub} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed by the refused Write", path)
		}
	}
	k, err := sitekey.LoadPrivate(privPath)
	if err != nil || k.ID != first.ID {
		t.Errorf("after the refused Write, LoadPrivate = %v, %v, want the first key %s", k, err, first.ID)
	}
}

func TestLoadPrivateMode(t *testing.T) {
	k, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o644, false},
		{0o640, false},
		{0o604, false},
		{0o660, false},
		{0o602, false},
		{0o610, false},
		{0o601, false},
		{0o666, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			privPath, _, err := sitekey.Write(t.TempDir(), k)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(privPath, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := sitekey.LoadPrivate(privPath)
			if tc.ok {
				if err != nil || got.ID != k.ID {
					t.Fatalf("LoadPrivate = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, sitekey.ErrInsecureMode) {
				t.Fatalf("LoadPrivate = %v, %v, want ErrInsecureMode", got, err)
			}
			if got != nil {
				t.Error("LoadPrivate returned a key with its error")
			}
			if !strings.Contains(err.Error(), privPath) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadPrivateMissing(t *testing.T) {
	_, err := sitekey.LoadPrivate(filepath.Join(t.TempDir(), "none.key"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadPrivate of a missing file = %v, want fs.ErrNotExist", err)
	}
}

// pubPEM encodes pub as a PUBLIC KEY block with the given headers.
func pubPEM(t testing.TB, pub ed25519.PublicKey, headers map[string]string) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: headers, Bytes: der})
}

func TestLoadPublicSite(t *testing.T) {
	k, err := sitekey.FromSeed("MAN1", seedBytes(t, rfc8032Seed))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().Key
	withSite := pubPEM(t, pub, map[string]string{"Site": "MAN1", "Key-Id": k.ID})
	noSite := pubPEM(t, pub, map[string]string{"Key-Id": k.ID})
	noHeaders := pubPEM(t, pub, nil)
	tests := []struct {
		name     string
		file     []byte
		site     string
		wantSite string // "" for an error
	}{
		{"header, no site given", withSite, "", "MAN1"},
		{"header agrees", withSite, "MAN1", "MAN1"},
		{"header disagrees", withSite, "LDS2", ""},
		{"header differs in case", withSite, "man1", ""},
		{"no Site header, no site given", noSite, "", ""},
		{"no Site header, site given", noSite, "LDS2", "LDS2"},
		{"no headers, site given", noHeaders, "MAN1", "MAN1"},
		{"no headers, no site given", noHeaders, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site.pub")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := sitekey.LoadPublic(path, tc.site)
			if tc.wantSite == "" {
				if err == nil {
					t.Fatalf("LoadPublic(%q) = %+v, want an error", tc.site, got)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Site != tc.wantSite || got.ID != k.ID || !got.Key.Equal(pub) {
				t.Errorf("LoadPublic(%q) = %+v, want site %s id %s", tc.site, got, tc.wantSite, k.ID)
			}
		})
	}
	if _, err := sitekey.LoadPublic(filepath.Join(t.TempDir(), "none.pub"), "MAN1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadPublic of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func TestParsePublic(t *testing.T) {
	k, err := sitekey.FromSeed("MAN1", seedBytes(t, rfc8032Seed))
	if err != nil {
		t.Fatal(err)
	}
	other, err := sitekey.Generate("MAN1", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().Key
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privFile, err := pemPrivate(k.Key, map[string]string{"Site": "MAN1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string // "" for success
	}{
		{"valid", sitekey.EncodePublic(k.Public()), ""},
		{"no headers", pubPEM(t, pub, nil), ""},
		{"surrounding text", append(append([]byte("comment\n"), sitekey.EncodePublic(k.Public())...), "trailer\n"...), ""},
		{"Key-Id header of another key", pubPEM(t, pub, map[string]string{"Site": "MAN1", "Key-Id": other.ID}), "Key-Id"},
		{"Key-Id header uppercase", pubPEM(t, pub, map[string]string{"Key-Id": strings.ToUpper(k.ID)}), "Key-Id"},
		{"Key-Id header truncated", pubPEM(t, pub, map[string]string{"Key-Id": k.ID[:16]}), "Key-Id"},
		{"Site header not a site code", pubPEM(t, pub, map[string]string{"Site": "MAN 1"}), "Site"},
		{"empty", nil, "PUBLIC KEY"},
		{"garbage", []byte("garbage\x00\xff"), "PUBLIC KEY"},
		{"raw hex key", []byte(rfc8032Public), "PUBLIC KEY"},
		{"private key block", privFile, "PUBLIC KEY"},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER")}), "PKIX"},
		{"empty DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY"}), "PKIX"},
		{"ECDSA key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), "Ed25519"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitekey.ParsePublic(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != k.ID || !got.Key.Equal(pub) {
					t.Errorf("ParsePublic = %+v, want id %s", got, k.ID)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePublic = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func pemPrivate(key any, headers map[string]string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: headers, Bytes: der}), nil
}

func TestParsePrivate(t *testing.T) {
	k, err := sitekey.FromSeed("MAN1", seedBytes(t, rfc8032Seed))
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustPEM := func(key any, headers map[string]string) []byte {
		t.Helper()
		b, err := pemPrivate(key, headers)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string // "" for success
	}{
		{"valid", mustPEM(k.Key, map[string]string{"Site": "MAN1"}), ""},
		{"no Site header", mustPEM(k.Key, nil), "Site"},
		{"Site header not a site code", mustPEM(k.Key, map[string]string{"Site": "../MAN1"}), "Site"},
		{"empty", nil, "PRIVATE KEY"},
		{"garbage", []byte("-----BEGIN nonsense"), "PRIVATE KEY"},
		{"raw seed", []byte(rfc8032Seed), "PRIVATE KEY"},
		{"public key block", sitekey.EncodePublic(k.Public()), "PRIVATE KEY"},
		{"OpenSSH-style block", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("x")}), "PRIVATE KEY"},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Site": "MAN1"}, Bytes: []byte("not DER")}), "PKCS #8"},
		{"ECDSA key", mustPEM(ecKey, map[string]string{"Site": "MAN1"}), "Ed25519"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitekey.ParsePrivate(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Site != "MAN1" || got.ID != k.ID || !got.Key.Equal(k.Key) {
					t.Errorf("ParsePrivate = %v, want %v", got, k)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePrivate = %v, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidSiteCode(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"MAN1", true},
		{"m", true},
		{"1", true},
		{"AP-MAN-02", true},
		{"a-", true},
		{strings.Repeat("A", 32), true},
		{"", false},
		{strings.Repeat("A", 33), false},
		{"-MAN", false},
		{"MAN_1", false},
		{"MAN 1", false},
		{"MAN.1", false},
		{"MAN/1", false},
		{"../x", false},
		{"+", false},
		{"#", false},
		{"MAN1\n", false},
		{"MÄN1", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.code), func(t *testing.T) {
			if got := sitekey.ValidSiteCode(tc.code); got != tc.ok {
				t.Errorf("ValidSiteCode(%q) = %v, want %v", tc.code, got, tc.ok)
			}
		})
	}
}

// TestPrivateNeverShowsKey formats a Private in every way a careless log line might and
// checks that no encoding of its seed or key appears.
func TestPrivateNeverShowsKey(t *testing.T) {
	seed := seedBytes(t, rfc8032Seed)
	k, err := sitekey.FromSeed("MAN1", seed)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, b := range [][]byte{seed, k.Key} {
		secrets = append(secrets,
			hex.EncodeToString(b),
			strings.ToUpper(hex.EncodeToString(b)),
			base64.StdEncoding.EncodeToString(b),
			base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b),
			base64.RawURLEncoding.EncodeToString(b),
			strings.Trim(fmt.Sprint(b[:8]), "[]"),                                             // 157 97 177 ...
			strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%#v", b[:4]), "[]byte{"), "}"), // 0x9d, 0x61, ...
		)
	}
	logged := func(h func(*bytes.Buffer) slog.Handler) string {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("loaded", "key", k)
		return buf.String()
	}
	outputs := map[string]string{
		"String":    k.String(),
		"%v":        fmt.Sprintf("%v", k),
		"%+v":       fmt.Sprintf("%+v", k),
		"%s":        fmt.Sprintf("%s", k),
		"%#v":       fmt.Sprintf("%#v", k),
		"%v value":  fmt.Sprintf("%v", *k),
		"%+v value": fmt.Sprintf("%+v", *k),
		"%#v value": fmt.Sprintf("%#v", *k),
		"%x":        fmt.Sprintf("%x", k),
		"in a struct": fmt.Sprintf("%+v", struct {
			K *sitekey.Private
		}{k}),
		"error wrap": fmt.Errorf("using %v", k).Error(),
		"slog text":  logged(func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }),
		"slog JSON":  logged(func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }),
	}
	if want := "sitekey(MAN1 " + k.ID + ")"; k.String() != want {
		t.Errorf("String() = %q, want %q", k.String(), want)
	}
	for how, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows key material %q: %s", how, s, out)
			}
		}
		if how != "%x" && !strings.Contains(out, k.ID) {
			t.Errorf("%s does not show the key id: %s", how, out)
		}
	}
	for how, v := range map[string]any{
		"json.Marshal":                   k,
		"json.Marshal value":             *k,
		"json.Marshal in a struct":       struct{ K *sitekey.Private }{k},
		"json.Marshal value in a struct": struct{ K sitekey.Private }{*k},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			continue // refusing to encode is also safe
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s shows key material %q: %s", how, s, b)
			}
		}
	}
}
