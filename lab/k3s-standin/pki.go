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
	certPath, keyPath := filepath.Join(tlsDir, "server-ca.crt"), filepath.Join(tlsDir, "server-ca.key")
	if p, err := loadPair(certPath, keyPath); err == nil {
		return p, nil
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("cluster CA in %s: %v", tlsDir, err)
	}
	now := time.Now()
	p, err := issue(&x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("k3s-server-ca@%d", now.Unix())},
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

// loadOrCreateAdmin keeps the admin client certificate that k3s.yaml carries, so a kubeconfig the
// program fetched stays valid across server restarts.
func loadOrCreateAdmin(tlsDir string, ca *keyPair) (*keyPair, error) {
	certPath, keyPath := filepath.Join(tlsDir, "client-admin.crt"), filepath.Join(tlsDir, "client-admin.key")
	if p, err := loadPair(certPath, keyPath); err == nil {
		if p.Cert.CheckSignatureFrom(ca.Cert) == nil && time.Now().Before(p.Cert.NotAfter) {
			return p, nil
		}
	}
	now := time.Now()
	p, err := issue(&x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: "system:admin", Organization: []string{"system:masters"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
	if err != nil {
		return nil, err
	}
	return p, savePair(p, certPath, keyPath)
}

// issueServing makes the API's certificate at every start, so a tls-san added to config.yaml takes
// effect on restart. Its names are what real k3s puts there; an agent dialling an address that
// is not among them fails verification, as it would against k3s.
func issueServing(tlsDir string, ca *keyPair, nodeName, nodeIP string, sans []string, serviceCIDR *net.IPNet) (*keyPair, error) {
	dns := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", nodeName}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if nodeIP != "" {
		ips = append(ips, net.ParseIP(nodeIP))
	}
	if serviceCIDR != nil {
		// The first service address is the in-cluster "kubernetes" service.
		first := make(net.IP, len(serviceCIDR.IP))
		copy(first, serviceCIDR.IP)
		first[len(first)-1]++
		ips = append(ips, first)
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	now := time.Now()
	p, err := issue(&x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}, ca)
	if err != nil {
		return nil, err
	}
	return p, savePair(p, filepath.Join(tlsDir, "serving-kube-apiserver.crt"), filepath.Join(tlsDir, "serving-kube-apiserver.key"))
}

func poolOf(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}
