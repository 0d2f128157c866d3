package main

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// kubeconfig is what the stand-in's kubectl needs from a kubeconfig file.
type kubeconfig struct {
	Server    *url.URL
	CAPEM     []byte
	ClientPEM []byte
	KeyPEM    []byte
}

// parseKubeconfig reads a kubeconfig shaped like the one k3s writes (one cluster, one user, data
// fields inline). It looks for its four fields by name and refuses files that hold more than one
// of any, rather than guess which cluster or user a fuller kubeconfig means.
func parseKubeconfig(text string) (*kubeconfig, error) {
	fields := map[string][]string{}
	want := []string{"server", "certificate-authority-data", "client-certificate-data", "client-key-data"}
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		for _, k := range want {
			if v, ok := strings.CutPrefix(t, k+":"); ok {
				v = strings.Trim(strings.TrimSpace(v), `"'`)
				fields[k] = append(fields[k], v)
			}
		}
	}
	kc := &kubeconfig{}
	for _, k := range want {
		switch len(fields[k]) {
		case 0:
			return nil, fmt.Errorf("no %s in the kubeconfig", k)
		case 1:
		default:
			return nil, fmt.Errorf("%d %s entries: the %s's kubectl reads a kubeconfig with one cluster and one user, as k3s writes it", len(fields[k]), k, standinNote)
		}
	}
	u, err := url.Parse(fields["server"][0])
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an https:// URL", fields["server"][0])
	}
	kc.Server = u
	for k, dst := range map[string]*[]byte{"certificate-authority-data": &kc.CAPEM, "client-certificate-data": &kc.ClientPEM, "client-key-data": &kc.KeyPEM} {
		b, err := base64.StdEncoding.DecodeString(fields[k][0])
		if err != nil {
			return nil, fmt.Errorf("%s is not base64: %v", k, err)
		}
		*dst = b
	}
	return kc, nil
}

func (kc *kubeconfig) tlsConfig() (*tls.Config, error) {
	pool, err := poolOf(kc.CAPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate-authority-data: %v", err)
	}
	cert, err := tls.X509KeyPair(kc.ClientPEM, kc.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %v", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
