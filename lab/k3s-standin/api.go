package main

// The Kubernetes objects the stand-in serves, with only the fields it fills. Field names and JSON
// shapes follow Kubernetes core/v1, so `kubectl get node -o json` reads like the real thing and a
// real kubectl could read them too.

type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
}

type taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

type nodeSpec struct {
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []taint `json:"taints,omitempty"`
}

type nodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

type nodeCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastHeartbeatTime  string `json:"lastHeartbeatTime"`
	LastTransitionTime string `json:"lastTransitionTime"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
}

type nodeSystemInfo struct {
	KubeletVersion  string `json:"kubeletVersion"`
	OperatingSystem string `json:"operatingSystem"`
	Architecture    string `json:"architecture"`
}

type nodeStatus struct {
	Addresses  []nodeAddress   `json:"addresses"`
	Conditions []nodeCondition `json:"conditions"`
	NodeInfo   nodeSystemInfo  `json:"nodeInfo"`
}

type nodeObject struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       nodeSpec   `json:"spec"`
	Status     nodeStatus `json:"status"`
}

type nodeList struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Items      []nodeObject `json:"items"`
}

type secretObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   objectMeta        `json:"metadata"`
	Type       string            `json:"type"`
	Immutable  bool              `json:"immutable"`
	Data       map[string]string `json:"data"`
}

type statusDetails struct {
	Name string `json:"name,omitempty"`
	Kind string `json:"kind,omitempty"`
}

// apiStatus is metav1.Status, which the API returns for errors and deletions; kubectl prints
// "Error from server (<reason>): <message>" from it.
type apiStatus struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Status     string         `json:"status"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Details    *statusDetails `json:"details,omitempty"`
	Code       int            `json:"code"`
}

// The k3s-specific endpoints between agent and server. Real k3s has its own supervisor protocol
// here; these paths are the stand-in's, and only its agent speaks them.
type joinRequest struct {
	Name     string            `json:"name"`
	IP       string            `json:"ip"`
	Password string            `json:"password"`
	Labels   map[string]string `json:"labels"`
	Taints   []taint           `json:"taints"`
	Version  string            `json:"version"`
}

type heartbeatRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

type agentReply struct {
	Message string `json:"message"`
}

const nodePasswordRejected = "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-passwd entry"
