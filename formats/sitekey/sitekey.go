// Package sitekey holds an Approved Premises site's Ed25519 signing key: generating it,
// writing it to disk (private key mode 0600, never logged), loading it back, and the key
// id that names it in every DSSE signature.
//
// Files are PEM: the private key is PKCS #8 ("PRIVATE KEY"), the public key PKIX
// ("PUBLIC KEY"), so that OpenSSL and other implementations can read them. The public key
// file carries "Site" and "Key-Id" PEM headers for people; the key id is always recomputed
// from the key itself.
package sitekey

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// siteCodeRE is the shape of an AP site code: what goes into topic names, file names and
// event ids, so it is kept to letters, digits and dashes.
var siteCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,31}$`)

// ValidSiteCode reports whether code can name a site: 1 to 32 letters, digits or dashes,
// starting with a letter or digit.
func ValidSiteCode(code string) bool { return siteCodeRE.MatchString(code) }

// KeyID is the identifier of an Ed25519 public key: the lowercase hex SHA-256 of its 32
// raw bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// Private is a site's signing key.
type Private struct {
	Site string
	Key  ed25519.PrivateKey
	ID   string
}

// Public is a site's verification key, as held by a trust store.
type Public struct {
	Site string
	Key  ed25519.PublicKey
	ID   string
}

// Public returns the verification half of k.
func (k *Private) Public() *Public {
	pub := k.Key.Public().(ed25519.PublicKey)
	return &Public{Site: k.Site, Key: pub, ID: k.ID}
}

// String never shows the key material, so a Private can be logged safely by mistake.
// It, GoString and MarshalJSON have value receivers so that a Private value, %#v and
// JSON logs (slog.JSONHandler) do not show the key either.
func (k Private) String() string { return fmt.Sprintf("sitekey(%s %s)", k.Site, k.ID) }

// GoString is String, for %#v.
func (k Private) GoString() string { return k.String() }

// MarshalJSON encodes String, never the key.
func (k Private) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// Generate makes a new key for site, reading randomness from r (crypto/rand if nil).
func Generate(site string, r io.Reader) (*Private, error) {
	if !ValidSiteCode(site) {
		return nil, fmt.Errorf("sitekey: site code %q: want 1-32 letters, digits or dashes", site)
	}
	if r == nil {
		r = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("sitekey: generate: %w", err)
	}
	return &Private{Site: site, Key: priv, ID: KeyID(pub)}, nil
}

// FromSeed makes the key whose RFC 8032 seed is seed; used for golden test vectors.
func FromSeed(site string, seed []byte) (*Private, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("sitekey: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Private{Site: site, Key: priv, ID: KeyID(priv.Public().(ed25519.PublicKey))}, nil
}

// Paths returns the conventional file names of site's keys under dir:
// dir/{site}.key and dir/{site}.pub.
func Paths(dir, site string) (private, public string) {
	return filepath.Join(dir, site+".key"), filepath.Join(dir, site+".pub")
}

// Write stores k under dir as {site}.key (mode 0600) and {site}.pub (mode 0644). It
// refuses to overwrite an existing private key.
func Write(dir string, k *Private) (privPath, pubPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("sitekey: %w", err)
	}
	privPath, pubPath = Paths(dir, k.Site)
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return "", "", fmt.Errorf("sitekey: encode private key: %w", err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Site": k.Site}, Bytes: der})
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("sitekey: %w", err)
	}
	if _, err := f.Write(privPEM); err != nil {
		f.Close()
		return "", "", fmt.Errorf("sitekey: write %s: %w", privPath, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", "", fmt.Errorf("sitekey: write %s: %w", privPath, err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("sitekey: write %s: %w", privPath, err)
	}
	if err := os.WriteFile(pubPath, EncodePublic(k.Public()), 0o644); err != nil {
		return "", "", fmt.Errorf("sitekey: %w", err)
	}
	return privPath, pubPath, nil
}

// EncodePublic returns the PEM form of a public key, with Site and Key-Id headers.
func EncodePublic(p *Public) []byte {
	der, err := x509.MarshalPKIXPublicKey(p.Key)
	if err != nil { // cannot happen for a well-formed ed25519.PublicKey
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Site": p.Site, "Key-Id": p.ID}, Bytes: der})
}

// ErrInsecureMode is returned when a private key file can be read by anyone but its owner.
var ErrInsecureMode = errors.New("sitekey: private key file must have mode 0600 (chmod 600 it)")

// LoadPrivate reads a private key file written by Write. The file must not be readable
// or writable by group or others. The site is taken from the file's Site header.
func LoadPrivate(path string) (*Private, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sitekey: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o", ErrInsecureMode, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sitekey: %w", err)
	}
	k, err := ParsePrivate(b)
	if err != nil {
		return nil, fmt.Errorf("sitekey: %s: %w", path, err)
	}
	return k, nil
}

// ParsePrivate decodes the PEM form of a private key.
func ParsePrivate(b []byte) (*Private, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block")
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS #8: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", key)
	}
	site := blk.Headers["Site"]
	if !ValidSiteCode(site) {
		return nil, fmt.Errorf("Site header %q is not a site code", site)
	}
	return &Private{Site: site, Key: priv, ID: KeyID(priv.Public().(ed25519.PublicKey))}, nil
}

// LoadPublic reads a public key file. The site is taken from its Site header unless
// site is non-empty, in which case the header, if present, must agree.
func LoadPublic(path, site string) (*Public, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sitekey: %w", err)
	}
	p, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("sitekey: %s: %w", path, err)
	}
	switch {
	case site == "" && p.Site == "":
		return nil, fmt.Errorf("sitekey: %s: no Site header; name the site", path)
	case site != "" && p.Site != "" && site != p.Site:
		return nil, fmt.Errorf("sitekey: %s: key is for site %q, not %q", path, p.Site, site)
	case site != "":
		p.Site = site
	}
	return p, nil
}

// ParsePublic decodes the PEM form of a public key. Site is left empty if the block has
// no Site header.
func ParsePublic(b []byte) (*Public, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\" block")
	}
	key, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKIX: %w", err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", key)
	}
	site := blk.Headers["Site"]
	if site != "" && !ValidSiteCode(site) {
		return nil, fmt.Errorf("Site header %q is not a site code", site)
	}
	id := KeyID(pub)
	if h := blk.Headers["Key-Id"]; h != "" && h != id {
		return nil, fmt.Errorf("Key-Id header %s does not match the key (%s)", h, id)
	}
	return &Public{Site: site, Key: pub, ID: id}, nil
}
