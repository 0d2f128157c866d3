package main

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// renderKubeconfig is a kubeconfig in k3s's layout: one cluster, user and context, all named
// "default", with the CA, client certificate and key inline.
func renderKubeconfig(server string, caPEM []byte, client *keyPair) string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(caPEM), server, b64(client.CertPEM), b64(client.KeyPEM))
}

func clientFor(server string, caPEM []byte, client *keyPair) (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(&rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM, CertData: client.CertPEM, KeyData: client.KeyPEM},
		Timeout:         15 * time.Second,
		UserAgent:       "k3s-supervisor",
	})
}

// The node password, as k3s keeps it: a secret kube-system/<node>.node-password.k3s holding a hash
// of /etc/rancher/node/password, never the password. A second machine claiming the same name
// with another password is refused; deleting the node deletes the secret (below), which frees
// the name for a reflashed phone.
const (
	nodePasswordRejected = "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-passwd entry"
	nodePasswordType     = "k3s.cattle.io/node-password"
	pbkdf2Rounds         = 20000
)

func passwordSecretName(node string) string { return node + ".node-password.k3s" }

func hashPassword(pw string, salt []byte) []byte {
	h, err := pbkdf2.Key(sha256.New, pw, salt, pbkdf2Rounds, 32)
	if err != nil {
		panic(err) // only for out-of-range parameters, which are constants here
	}
	return h
}

type errPasswordRejected struct{}

func (errPasswordRejected) Error() string { return nodePasswordRejected }

// checkNodePassword admits the node's password, recording it on first use.
func checkNodePassword(ctx context.Context, c kubernetes.Interface, node, password string) error {
	secrets := c.CoreV1().Secrets(metav1.NamespaceSystem)
	name := passwordSecretName(node)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		if !hmac.Equal(hashPassword(password, s.Data["salt"]), s.Data["hash"]) {
			return errPasswordRejected{}
		}
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	salt := []byte(randomHex(16))
	_, err = secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem},
		Type:       nodePasswordType,
		Data:       map[string][]byte{"salt": salt, "hash": hashPassword(password, salt)},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Two joins of one name at once: the other one recorded its password; check against it.
		return checkNodePassword(ctx, c, node, password)
	}
	return err
}

// watchNodes does what k3s's node controller does for us: a deleted node's password secret is
// deleted with it, and the server's own node gets its role labels (a kubelet may not set
// node-role labels on itself).
func watchNodes(ctx context.Context, c kubernetes.Interface, lg logger, serverNode string) {
	labels := map[string]string{"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true"}
	for ctx.Err() == nil {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			sleepCtx(ctx, 2*time.Second)
			continue
		}
		for i := range list.Items {
			ensureRoleLabels(ctx, c, lg, &list.Items[i], serverNode, labels)
		}
		w, err := c.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			sleepCtx(ctx, 2*time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			n, ok := ev.Object.(*corev1.Node)
			if !ok {
				continue
			}
			switch ev.Type {
			case watch.Deleted:
				err := c.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, passwordSecretName(n.Name), metav1.DeleteOptions{})
				if err == nil {
					lg.Infof("Node %s was deleted; deleted its node-password secret %s", n.Name, passwordSecretName(n.Name))
				} else if !apierrors.IsNotFound(err) {
					lg.Warnf("deleting the node-password secret of deleted node %s: %v", n.Name, err)
				}
			case watch.Added, watch.Modified:
				ensureRoleLabels(ctx, c, lg, n, serverNode, labels)
			}
		}
		w.Stop()
	}
}

func ensureRoleLabels(ctx context.Context, c kubernetes.Interface, lg logger, n *corev1.Node, serverNode string, labels map[string]string) {
	if n.Name != serverNode {
		return
	}
	missing := false
	for k, v := range labels {
		if n.Labels[k] != v {
			missing = true
		}
	}
	if !missing {
		return
	}
	patch := `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"true","node-role.kubernetes.io/master":"true"}}}`
	if _, err := c.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		lg.Warnf("labelling node %s as control-plane: %v", n.Name, err)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
