// Package pki is a site's certificate authority for its MQTT brokers: the site CA, the
// client certificates of the site's identities (ECDSA P-256, crypto/x509), their
// revocation list, and the ACLs that say what each identity may publish and read.
//
// A CA directory holds:
//
//	ca.key   the CA's private key (mode 0600)
//	ca.crt   the CA certificate: the cafile of Mosquitto and of every client
//	crl.pem  the revocation list, re-signed on every revocation: Mosquitto's crlfile
//	{name}.key, {name}.crt  an identity's key (0600) and certificate, ":" in the
//	         name written as "." (device:door:front is device.door.front.crt)
//
// An identity's name (see ParseIdentity) is its certificate's CommonName, which the
// brokers take as its username (Mosquitto's use_identity_as_username). Every time
// comes from the clock in Options; nothing here reads the wall clock.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/internal/clock"
)

// File names in a CA directory.
const (
	CAKeyFile  = "ca.key"
	CACertFile = "ca.crt"
	CRLFile    = "crl.pem"
)

// Default validities.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 2 * 365 * 24 * time.Hour
)

// ErrLive is returned by Issue when the identity already has an unexpired, unrevoked
// certificate and Options.Force is not set.
var ErrLive = errors.New("pki: the identity has a live certificate; revoke it or reissue with force")

// Algorithm is a key algorithm of the CA and its certificates.
type Algorithm string

// The algorithms Init and Issue make keys with.
const (
	// ECDSAP256 is ECDSA on NIST P-256, the default: every TLS stack has it.
	ECDSAP256 Algorithm = "ecdsa-p256"
	// Ed25519 makes smaller keys and signatures; Go, and Mosquitto on OpenSSL 1.1.1
	// or later, accept it in TLS 1.2 and 1.3 (RFC 8422, RFC 8446).
	Ed25519 Algorithm = "ed25519"
)

// ParseAlgorithm parses an algorithm's name; "" is ECDSAP256.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch a := Algorithm(s); a {
	case "":
		return ECDSAP256, nil
	case ECDSAP256, Ed25519:
		return a, nil
	}
	return "", fmt.Errorf("pki: algorithm %q: want %s or %s", s, ECDSAP256, Ed25519)
}

// newKey makes a private key of algorithm a ("" is ECDSAP256).
func newKey(a Algorithm) (crypto.Signer, error) {
	switch a {
	case "", ECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		return k, nil
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("pki: unknown algorithm %q", a)
}

// Options are what Init, Issue, List and Revoke take besides their arguments.
type Options struct {
	// Algorithm is the key algorithm of a new CA or certificate (ECDSAP256 if empty).
	// A CA of one algorithm may sign certificates of the other.
	Algorithm Algorithm
	// Clock tells the time certificates start from and are checked against (the
	// system clock if nil).
	Clock clock.Clock
	// Validity is how long a new certificate is valid (CAValidity for Init,
	// CertValidity for Issue, if zero).
	Validity time.Duration
	// Force lets Issue replace a live certificate; the old one is revoked.
	Force bool
	// Hosts are the DNS names and IP addresses of a broker certificate (RoleBroker);
	// localhost and 127.0.0.1 are always included.
	Hosts []string
}

// Cert describes one issued certificate.
type Cert struct {
	Name      string // identity name, the certificate's CommonName
	Serial    string // hex
	NotBefore time.Time
	NotAfter  time.Time
	Revoked   bool
	CertFile  string
	KeyFile   string
}

// Status is "revoked", "expired" or "live" at now.
func (c Cert) Status(now time.Time) string {
	switch {
	case c.Revoked:
		return "revoked"
	case !now.Before(c.NotAfter):
		return "expired"
	case now.Before(c.NotBefore):
		return "not yet valid"
	}
	return "live"
}

// Init makes the site CA in dir (created 0700 if missing): its key, its certificate
// for site and an empty revocation list. It refuses a dir that already has a CA.
func Init(dir, site string, o Options) (*Cert, error) {
	if !siteRE.MatchString(site) {
		return nil, fmt.Errorf("pki: site code %q: want 1 to 16 of A-Z 0-9", site)
	}
	if _, err := os.Stat(filepath.Join(dir, CAKeyFile)); err == nil {
		return nil, fmt.Errorf("pki: %s already has a CA (%s)", dir, CAKeyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, err := newKey(o.Algorithm)
	if err != nil {
		return nil, err
	}
	now := clock.Or(o.Clock).Now().UTC()
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "apedge site CA " + site, Organization: []string{"apedge " + site}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(or(o.Validity, CAValidity)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: make the CA certificate: %w", err)
	}
	keyFile, certFile := filepath.Join(dir, CAKeyFile), filepath.Join(dir, CACertFile)
	ca, err := writePair(keyFile, certFile, key, der)
	if err != nil {
		return nil, err
	}
	if err := writeCRL(dir, ca, key, nil, now); err != nil {
		return nil, err
	}
	return &Cert{Name: ca.Subject.CommonName, Serial: ca.SerialNumber.Text(16), NotBefore: ca.NotBefore,
		NotAfter: ca.NotAfter, CertFile: certFile, KeyFile: keyFile}, nil
}

// Issue issues a certificate for the identity name (see ParseIdentity) from the CA in
// dir, writing its key (0600) and certificate. It refuses with ErrLive if the identity
// has a live certificate, unless o.Force, which revokes the old one first. A broker
// certificate is for TLS servers; every other is for TLS clients.
func Issue(dir, name string, o Options) (*Cert, error) {
	id, err := ParseIdentity(name)
	if err != nil {
		return nil, err
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	now := clock.Or(o.Clock).Now().UTC()
	revoked, err := revokedSerials(dir, ca)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, id.fileStem()+".crt"), filepath.Join(dir, id.fileStem()+".key")
	if old, err := readCert(certFile); err == nil {
		c := describe(old, revoked, certFile, keyFile)
		if c.Status(now) == "live" {
			if !o.Force {
				return nil, fmt.Errorf("%w: %s, serial %s, valid until %s", ErrLive, name, c.Serial, c.NotAfter.Format(time.RFC3339))
			}
			revoked = append(revoked, old.SerialNumber)
			if err := writeCRL(dir, ca, caKey, revoked, now); err != nil {
				return nil, err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := newKey(o.Algorithm)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: ca.Subject.Organization},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(or(o.Validity, CertValidity)),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	if id.Role == RoleBroker {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range append([]string{"localhost", "127.0.0.1"}, o.Hosts...) {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else if h != "" && !slices.Contains(tmpl.DNSNames, h) {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %s: %w", name, err)
	}
	cert, err := writePair(keyFile, certFile, key, der)
	if err != nil {
		return nil, err
	}
	c := describe(cert, nil, certFile, keyFile)
	return &c, nil
}

// List returns the certificates issued in dir, by name, with whether each is revoked.
func List(dir string) ([]Cert, error) {
	ca, _, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	revoked, err := revokedSerials(dir, ca)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var out []Cert
	for _, f := range files {
		if filepath.Base(f) == CACertFile {
			continue
		}
		cert, err := readCert(f)
		if err != nil {
			return nil, err
		}
		out = append(out, describe(cert, revoked, f, strings.TrimSuffix(f, ".crt")+".key"))
	}
	slices.SortFunc(out, func(a, b Cert) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Revoke adds the identity name's current certificate to dir's revocation list and
// returns it. Revoking a revoked certificate is no error.
func Revoke(dir, name string, o Options) (*Cert, error) {
	id, err := ParseIdentity(name)
	if err != nil {
		return nil, err
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	revoked, err := revokedSerials(dir, ca)
	if err != nil {
		return nil, err
	}
	certFile := filepath.Join(dir, id.fileStem()+".crt")
	cert, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(revoked, func(s *big.Int) bool { return s.Cmp(cert.SerialNumber) == 0 }) {
		revoked = append(revoked, cert.SerialNumber)
		if err := writeCRL(dir, ca, caKey, revoked, clock.Or(o.Clock).Now().UTC()); err != nil {
			return nil, err
		}
	}
	c := describe(cert, revoked, certFile, filepath.Join(dir, id.fileStem()+".key"))
	return &c, nil
}

// ServerTLS returns the TLS configuration of a broker serving with dir's broker
// certificate: TLS 1.2 or later, a client certificate from dir's CA required and
// verified against clk's time, and refused if dir's revocation list names it. The list
// is read again whenever its file changes (apedge pki revoke rewrites it), so a
// revocation takes effect at the next connection without restarting the broker; a
// list that cannot be read or verified then refuses every client until it can.
func ServerTLS(dir string, clk clock.Clock) (*tls.Config, error) {
	ca, _, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	crl := &crlWatch{dir: dir, ca: ca}
	if _, err := crl.revoked(); err != nil {
		return nil, err
	}
	stem := Identity{Role: RoleBroker}.fileStem()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, stem+".crt"), filepath.Join(dir, stem+".key"))
	if err != nil {
		return nil, fmt.Errorf("pki: the broker certificate (apedge pki issue -name broker): %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	clk = clock.Or(clk)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		Time:         clk.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("pki: no client certificate")
			}
			revoked, err := crl.revoked()
			if err != nil {
				return err
			}
			s := cs.PeerCertificates[0].SerialNumber
			if slices.ContainsFunc(revoked, func(r *big.Int) bool { return r.Cmp(s) == 0 }) {
				return fmt.Errorf("pki: certificate of %q (serial %s) is revoked", cs.PeerCertificates[0].Subject.CommonName, s.Text(16))
			}
			return nil
		},
	}, nil
}

// crlWatch is a CA directory's revocation list, read again when its file changes.
type crlWatch struct {
	dir string
	ca  *x509.Certificate

	mu   sync.Mutex
	mod  time.Time // the file's modification time and size when last read
	size int64
	list []*big.Int
}

// revoked returns the serials the list names, reading the file again if it changed.
func (w *crlWatch) revoked() ([]*big.Int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := os.Stat(filepath.Join(w.dir, CRLFile))
	if err != nil {
		return nil, fmt.Errorf("pki: revocation list: %w", err)
	}
	if w.list != nil && fi.ModTime().Equal(w.mod) && fi.Size() == w.size {
		return w.list, nil
	}
	list, err := revokedSerials(w.dir, w.ca)
	if err != nil {
		w.list = nil
		return nil, err
	}
	if list == nil {
		list = []*big.Int{}
	}
	w.list, w.mod, w.size = list, fi.ModTime(), fi.Size()
	return list, nil
}

// ClientTLS returns the TLS configuration of the client identity name of dir's CA:
// its key and certificate, and dir's CA as the only one it trusts, at clk's time.
func ClientTLS(dir, name string, clk clock.Clock) (*tls.Config, error) {
	id, err := ParseIdentity(name)
	if err != nil {
		return nil, err
	}
	ca, err := readCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, id.fileStem()+".crt"), filepath.Join(dir, id.fileStem()+".key"))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: pool,
		Time: clock.Or(clk).Now, ServerName: "localhost"}, nil
}

func describe(c *x509.Certificate, revoked []*big.Int, certFile, keyFile string) Cert {
	return Cert{Name: c.Subject.CommonName, Serial: c.SerialNumber.Text(16), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		Revoked:  slices.ContainsFunc(revoked, func(s *big.Int) bool { return s.Cmp(c.SerialNumber) == 0 }),
		CertFile: certFile, KeyFile: keyFile}
}

func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	ca, err := readCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%w (apedge pki init makes the CA)", err)
	}
	keyFile := filepath.Join(dir, CAKeyFile)
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("pki: %s is mode %04o; want 0600 (chmod 600 %s)", keyFile, fi.Mode().Perm(), keyFile)
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

func revokedSerials(dir string, ca *x509.Certificate) ([]*big.Int, error) {
	file := filepath.Join(dir, CRLFile)
	der, err := readPEM(file, "X509 CRL")
	if err != nil {
		return nil, err
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", file, err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("pki: %s is not signed by the CA: %w", file, err)
	}
	var out []*big.Int
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, e.SerialNumber)
	}
	return out, nil
}

func writeCRL(dir string, ca *x509.Certificate, key crypto.Signer, revoked []*big.Int, now time.Time) error {
	num, err := newSerial()
	if err != nil {
		return err
	}
	// The list is good until the CA itself expires. Mosquitto (OpenSSL) refuses every
	// client once the crlfile's NextUpdate has passed, and a site box has no job that
	// re-signs it on a schedule: a list valid for a year would lock the whole site bus
	// out a year after the last revocation. Revoke writes a new list at once instead.
	tmpl := &x509.RevocationList{Number: num, ThisUpdate: now, NextUpdate: ca.NotAfter}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
	if err != nil {
		return fmt.Errorf("pki: sign the revocation list: %w", err)
	}
	return writePEM(filepath.Join(dir, CRLFile), "X509 CRL", der, 0o644)
}

func readCert(file string) (*x509.Certificate, error) {
	der, err := readPEM(file, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", file, err)
	}
	return c, nil
}

func readPEM(file, typ string) ([]byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("pki: %s holds no PEM %s", file, typ)
	}
	return b.Bytes, nil
}

// writeKey writes key to file (0600): an ECDSA key as SEC 1 "EC PRIVATE KEY", as
// OpenSSL writes it and Mosquitto reads it; any other as PKCS #8 "PRIVATE KEY".
func writeKey(file string, key crypto.Signer) error {
	typ := "PRIVATE KEY"
	var der []byte
	var err error
	if k, ok := key.(*ecdsa.PrivateKey); ok {
		typ = "EC PRIVATE KEY"
		der, err = x509.MarshalECPrivateKey(k)
	} else {
		der, err = x509.MarshalPKCS8PrivateKey(key)
	}
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return writePEM(file, typ, der, 0o600)
}

// readKey reads a private key writeKey wrote.
func readKey(file string) (crypto.Signer, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b, _ := pem.Decode(raw)
	var key any
	switch {
	case b != nil && b.Type == "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case b != nil && b.Type == "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("pki: %s holds no PEM private key", file)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", file, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: %s: a %T is no signing key", file, key)
	}
	return signer, nil
}

// writePEM writes the block to file with perm, through a temporary file renamed over
// it, so that a crash leaves the old file or the new, and a key is never readable by
// others even for a moment.
func writePEM(file, typ string, der []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// writePair writes key (mode 0600) and the certificate der to their files and returns
// the certificate parsed.
func writePair(keyFile, certFile string, key crypto.Signer, der []byte) (*x509.Certificate, error) {
	if err := writeKey(keyFile, key); err != nil {
		return nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return cert, nil
}
