package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// keyPair is a certificate with its key, and the PEM forms written to disk and into kubeconfig.
type keyPair struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func loadPair(certPath, keyPath string) (*keyPair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &keyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func savePair(p *keyPair, certPath, keyPath string) error {
	if err := writeFileAtomic(keyPath, p.KeyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, p.CertPEM, 0o644)
}

// loadOrCreateCA keeps the cluster CA for the life of the data dir, as k3s does: the node-token's
// CA hash and every agent's pinned CA depend on it.
func loadOrCreateCA(tlsDir string) (*keyPair, error) {
	return loadOrCreateNamedCA(tlsDir, "server-ca", "k3s-server-ca")
}

// loadOrCreateNamedCA keeps a CA under NAME.crt/NAME.key for the life of the data dir.
func loadOrCreateNamedCA(tlsDir, name, cn string) (*keyPair, error) {
	certPath, keyPath := filepath.Join(tlsDir, name+".crt"), filepath.Join(tlsDir, name+".key")
	if p, err := loadPair(certPath, keyPath); err == nil {
		return p, nil
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("%s CA in %s: %v", name, tlsDir, err)
	}
	now := time.Now()
	p, err := issue(&x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", cn, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		return nil, err
	}
	return p, savePair(p, certPath, keyPath)
}

// clientCert is a client certificate for user CN in groups ORGS, signed by ca.
func clientCert(ca *keyPair, cn string, orgs ...string) (*keyPair, error) {
	now := time.Now()
	return issue(&x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
}

// servingCert is a server certificate for the given names and addresses, signed by ca.
func servingCert(ca *keyPair, cn string, dns []string, ips []net.IP) (*keyPair, error) {
	now := time.Now()
	return issue(&x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}, ca)
}

// loadOrCreateClient keeps a client certificate across restarts while ca still signs it and it
// has a month left, so kubeconfigs handed out (k3s.yaml, the program's copy) stay valid.
func loadOrCreateClient(tlsDir, name string, ca *keyPair, cn string, orgs ...string) (*keyPair, error) {
	certPath, keyPath := filepath.Join(tlsDir, name+".crt"), filepath.Join(tlsDir, name+".key")
	if p, err := loadPair(certPath, keyPath); err == nil {
		if p.Cert.CheckSignatureFrom(ca.Cert) == nil && time.Now().AddDate(0, 1, 0).Before(p.Cert.NotAfter) &&
			p.Cert.Subject.CommonName == cn && slices.Equal(p.Cert.Subject.Organization, orgs) {
			return p, nil
		}
	}
	p, err := clientCert(ca, cn, orgs...)
	if err != nil {
		return nil, err
	}
	return p, savePair(p, certPath, keyPath)
}

// loadOrCreateKey keeps the service-account signing key: tokens already handed to pods must stay
// valid across restarts.
func loadOrCreateKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// apiServingCert is made at every start, so a tls-san added to config.yaml takes effect on
// restart. Its names are what real k3s puts there; an agent dialling an address that is not among
// them fails verification, as it would against k3s.
func apiServingCert(ca *keyPair, nodeName, nodeIP string, sans []string, serviceCIDR *net.IPNet) (*keyPair, error) {
	dns := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", nodeName}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if nodeIP != "" {
		ips = append(ips, net.ParseIP(nodeIP))
	}
	if serviceCIDR != nil {
		ips = append(ips, nthAddress(serviceCIDR, 1)) // the in-cluster "kubernetes" service
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	return servingCert(ca, "kube-apiserver", dns, ips)
}

// nthAddress is the n-th address of a network (10.43.0.0/16, 10 -> 10.43.0.10).
func nthAddress(n *net.IPNet, i int) net.IP {
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	for k := len(ip) - 1; k >= 0 && i > 0; k-- {
		sum := int(ip[k]) + i
		ip[k] = byte(sum % 256)
		i = sum / 256
	}
	return ip
}

func poolOf(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}
