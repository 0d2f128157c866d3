package main

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
)

// nodeGracePeriod is Kubernetes' node-monitor-grace-period: a node whose kubelet has not posted
// status for this long turns Ready=Unknown.
const nodeGracePeriod = 40 * time.Second

// heartbeatInterval is how often a node posts its status (the kubelet's default is 10 s).
const heartbeatInterval = 10 * time.Second

type nodeRecord struct {
	Name          string            `json:"name"`
	IP            string            `json:"ip"`
	Labels        map[string]string `json:"labels"`
	Taints        []taint           `json:"taints"`
	Version       string            `json:"version"`
	Created       time.Time         `json:"created"`
	LastHeartbeat time.Time         `json:"lastHeartbeat"`
	Unschedulable bool              `json:"unschedulable"`
}

// passwordSecret is what k3s keeps in kube-system/<node>.node-password.k3s: a hash of the node's
// password, never the password.
type passwordSecret struct {
	Name    string    `json:"name"`
	Salt    []byte    `json:"salt"`
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
}

const pbkdf2Rounds = 20000

func hashPassword(pw string, salt []byte) []byte {
	h, err := pbkdf2.Key(sha256.New, pw, salt, pbkdf2Rounds, 32)
	if err != nil {
		panic(err) // only for out-of-range parameters, which are constants here
	}
	return h
}

func passwordSecretName(node string) string { return node + ".node-password.k3s" }

var (
	errNotFound         = errors.New("not found")
	errPasswordMismatch = errors.New(nodePasswordRejected)
)

// store is the server's cluster state: nodes and node-password secrets, saved as JSON in the data
// dir after every change so a restarted server still knows who joined (k3s keeps these in its
// datastore).
type store struct {
	mu      sync.Mutex
	path    string
	Nodes   map[string]*nodeRecord     `json:"nodes"`
	Secrets map[string]*passwordSecret `json:"secrets"`
}

func openStore(path string) (*store, error) {
	s := &store{path: path, Nodes: map[string]*nodeRecord{}, Secrets: map[string]*passwordSecret{}}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if s.Nodes == nil {
		s.Nodes = map[string]*nodeRecord{}
	}
	if s.Secrets == nil {
		s.Secrets = map[string]*passwordSecret{}
	}
	return s, nil
}

// saveLocked writes the state; the caller holds mu.
func (s *store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, b, 0o600)
}

// checkPasswordLocked is k3s's node-password rule: the first registration of a name stores the
// hash; later ones must present the same password until the node (or its secret) is deleted.
func (s *store) checkPasswordLocked(name, pw string, now time.Time) error {
	sec, ok := s.Secrets[passwordSecretName(name)]
	if !ok {
		salt := []byte(randomHex(16))
		s.Secrets[passwordSecretName(name)] = &passwordSecret{Name: passwordSecretName(name), Salt: salt, Hash: hashPassword(pw, salt), Created: now}
		return nil
	}
	if !hmac.Equal(sec.Hash, hashPassword(pw, sec.Salt)) {
		return errPasswordMismatch
	}
	return nil
}

// register creates or refreshes a node after its password check; a known node keeps its creation
// time and cordon, as a kubelet re-registering an existing Node does.
func (s *store) register(req joinRequest, role string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPasswordLocked(req.Name, req.Password, now); err != nil {
		return err
	}
	labels := map[string]string{
		"kubernetes.io/hostname":           req.Name,
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               runtime.GOARCH,
		"node.kubernetes.io/instance-type": "k3s",
	}
	if role == "control-plane" {
		labels["node-role.kubernetes.io/control-plane"] = "true"
	}
	maps.Copy(labels, req.Labels)
	n, ok := s.Nodes[req.Name]
	if !ok {
		n = &nodeRecord{Name: req.Name, Created: now}
		s.Nodes[req.Name] = n
	}
	n.IP, n.Labels, n.Taints, n.Version, n.LastHeartbeat = req.IP, labels, req.Taints, req.Version, now
	return s.saveLocked()
}

func (s *store) heartbeat(name, pw string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.Nodes[name]
	if !ok {
		return errNotFound
	}
	if sec, ok := s.Secrets[passwordSecretName(name)]; ok && !hmac.Equal(sec.Hash, hashPassword(pw, sec.Salt)) {
		return errPasswordMismatch
	}
	n.LastHeartbeat = now
	// Heartbeats are not persisted one by one: after a restart, an old heartbeat reads as Unknown
	// until the node posts again, which is what a real control plane shows too.
	return nil
}

// deleteNode removes the node and, like k3s's node controller, its node-password secret.
func (s *store) deleteNode(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Nodes[name]; !ok {
		return errNotFound
	}
	delete(s.Nodes, name)
	delete(s.Secrets, passwordSecretName(name))
	return s.saveLocked()
}

func (s *store) deleteSecret(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Secrets[name]; !ok {
		return errNotFound
	}
	delete(s.Secrets, name)
	return s.saveLocked()
}

func (s *store) setUnschedulable(name string, v bool) (nodeObject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.Nodes[name]
	if !ok {
		return nodeObject{}, errNotFound
	}
	n.Unschedulable = v
	return n.object(time.Now()), s.saveLocked()
}

func (s *store) node(name string, now time.Time) (nodeObject, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.Nodes[name]
	if !ok {
		return nodeObject{}, false
	}
	return n.object(now), true
}

func (s *store) nodes(now time.Time) []nodeObject {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.Nodes))
	out := make([]nodeObject, 0, len(names))
	for _, name := range names {
		out = append(out, s.Nodes[name].object(now))
	}
	return out
}

func (s *store) secret(name string) (secretObject, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.Secrets[name]
	if !ok {
		return secretObject{}, false
	}
	encoded := fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", pbkdf2Rounds, base64.RawStdEncoding.EncodeToString(sec.Salt), base64.RawStdEncoding.EncodeToString(sec.Hash))
	return secretObject{
		APIVersion: "v1",
		Kind:       "Secret",
		Metadata:   objectMeta{Name: sec.Name, Namespace: "kube-system", CreationTimestamp: sec.Created.UTC().Format(time.RFC3339)},
		Type:       "k3s.cattle.io/node-password",
		Immutable:  true,
		Data:       map[string]string{"hash": base64.StdEncoding.EncodeToString([]byte(encoded))},
	}, true
}

// readyCondition derives Ready from the age of the last heartbeat, as the node lifecycle
// controller does: fresh means the kubelet said Ready, stale means nobody knows.
func readyCondition(lastHeartbeat, now time.Time) nodeCondition {
	c := nodeCondition{
		Type:               "Ready",
		LastHeartbeatTime:  lastHeartbeat.UTC().Format(time.RFC3339),
		LastTransitionTime: lastHeartbeat.UTC().Format(time.RFC3339),
	}
	if now.Sub(lastHeartbeat) < nodeGracePeriod {
		c.Status, c.Reason, c.Message = "True", "KubeletReady", "kubelet is posting ready status (k3s-over-usb lab stand-in agent)"
	} else {
		c.Status, c.Reason, c.Message = "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
		c.LastTransitionTime = lastHeartbeat.Add(nodeGracePeriod).UTC().Format(time.RFC3339)
	}
	return c
}

func (n *nodeRecord) object(now time.Time) nodeObject {
	taints := slices.Clone(n.Taints)
	if n.Unschedulable {
		// kubectl cordon's effect as the API shows it: the spec flag plus this taint.
		taints = append(taints, taint{Key: "node.kubernetes.io/unschedulable", Effect: "NoSchedule"})
	}
	if now.Sub(n.LastHeartbeat) >= nodeGracePeriod {
		taints = append(taints, taint{Key: "node.kubernetes.io/unreachable", Effect: "NoSchedule"})
	}
	addrs := []nodeAddress{}
	if n.IP != "" {
		addrs = append(addrs, nodeAddress{Type: "InternalIP", Address: n.IP})
	}
	addrs = append(addrs, nodeAddress{Type: "Hostname", Address: n.Name})
	return nodeObject{
		APIVersion: "v1",
		Kind:       "Node",
		Metadata: objectMeta{
			Name:              n.Name,
			Labels:            maps.Clone(n.Labels),
			Annotations:       map[string]string{"k3s-over-usb.lab/stand-in": "true"},
			CreationTimestamp: n.Created.UTC().Format(time.RFC3339),
		},
		Spec: nodeSpec{Unschedulable: n.Unschedulable, Taints: taints},
		Status: nodeStatus{
			Addresses:  addrs,
			Conditions: []nodeCondition{readyCondition(n.LastHeartbeat, now)},
			NodeInfo:   nodeSystemInfo{KubeletVersion: n.Version, OperatingSystem: "linux", Architecture: runtime.GOARCH},
		},
	}
}
