package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// joinToken is a k3s token: either a plain secret, or the "secure" form k3s writes to
// server/node-token, K10<sha256 of the cluster CA>::server:<secret>, whose CA hash lets an agent
// check it talks to the right server before sending the secret.
type joinToken struct {
	CAHash string // lowercase hex, empty for a plain token
	Secret string
}

var k10Form = regexp.MustCompile(`^K10([0-9a-fA-F]{64})::([^:]+):(.+)$`)

func parseToken(s string) (joinToken, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return joinToken{}, fmt.Errorf("the token is empty")
	}
	if strings.HasPrefix(s, "K10") && strings.Contains(s, "::") {
		m := k10Form.FindStringSubmatch(s)
		if m == nil {
			return joinToken{}, fmt.Errorf("the token starts like a K10 token but is not K10<64 hex>::<user>:<secret>")
		}
		if m[2] != "server" {
			return joinToken{}, fmt.Errorf("K10 tokens for user %q are not supported by the %s (only server tokens)", m[2], labNote())
		}
		return joinToken{CAHash: strings.ToLower(m[1]), Secret: m[3]}, nil
	}
	return joinToken{Secret: s}, nil
}

func caHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// nodeToken is the content of server/node-token.
func nodeToken(caPEM []byte, secret string) string {
	return "K10" + caHash(caPEM) + "::server:" + secret
}

// sameSecret compares in constant time, as any token check should.
func sameSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
