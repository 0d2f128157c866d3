// Command mkimages writes the lab's air-gap images tarball: the images a k3s cluster needs before
// it can pull anything, made from local binaries because nothing can be pulled here.
//
//	mkimages -o k3s-airgap-images-amd64.tar -pause PAUSE -coredns COREDNS -coredns-tag 1.14.7 -busybox BUSYBOX \
//		-metallb-controller CONTROLLER -metallb-speaker SPEAKER -metallb-tag v0.15.2
//
// MetalLB is not part of k3s: its images ride in the same tarball because the lab's household pins
// MetalLB too and nothing can pull quay.io/metallb here.
//
// The format is `docker save`'s (manifest.json with RepoTags, one config and one uncompressed layer
// tarball per image), which is what k3s's own k3s-airgap-images-amd64.tar is and what
// `ctr -n k8s.io images import` reads. Every header is fixed (owner root, time 0), so the same
// inputs give the same bytes and the same image IDs.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// busyboxNeeds are the applets the lab's pods and tests run; a busybox built without one of them
// must fail the build here, not a test later.
var busyboxNeeds = []string{"sh", "ping", "nslookup", "wget", "httpd", "sleep", "ip", "ifconfig", "cat", "ls", "echo"}

var epoch = time.Unix(0, 0).UTC()

// image is one image of the tarball: a single layer and the run settings of its config.
type image struct {
	tag        string
	files      []file
	entrypoint []string
	cmd        []string
	user       string
}

// file is one entry of a layer: a directory, a regular file copied from the host, or a symlink.
type file struct {
	name   string // path inside the image, without a leading slash
	mode   int64
	source string // host file to copy (regular files)
	data   []byte // contents (regular files without a source)
	link   string // symlink target
	dir    bool
}

func main() {
	out := flag.String("o", "", "tarball to write")
	pause := flag.String("pause", "", "static pause binary")
	coredns := flag.String("coredns", "", "static coredns binary")
	corednsTag := flag.String("coredns-tag", "", "CoreDNS version the binary was built from, without v (e.g. 1.14.7)")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary (Debian's busybox-static)")
	var ml metallb
	flag.StringVar(&ml.controller, "metallb-controller", "", "static MetalLB controller binary")
	flag.StringVar(&ml.speaker, "metallb-speaker", "", "static MetalLB speaker binary")
	flag.StringVar(&ml.tag, "metallb-tag", "", "MetalLB version the binaries were built from (e.g. v0.15.2)")
	flag.Parse()
	some, all := ml.controller != "" || ml.speaker != "" || ml.tag != "", ml.controller != "" && ml.speaker != "" && ml.tag != ""
	if *out == "" || *pause == "" || *coredns == "" || *corednsTag == "" || flag.NArg() > 0 || some && !all {
		fmt.Fprintln(os.Stderr, "usage: mkimages -o OUT.tar -pause PAUSE -coredns COREDNS -coredns-tag X.Y.Z [-busybox BUSYBOX]"+
			" [-metallb-controller C -metallb-speaker S -metallb-tag vX.Y.Z]")
		os.Exit(2)
	}
	if err := run(*out, *pause, *coredns, *corednsTag, *busybox, ml); err != nil {
		fmt.Fprintf(os.Stderr, "mkimages: %v\n", err)
		os.Exit(1)
	}
}

// metallb names MetalLB's binaries; all empty leaves MetalLB's images out.
type metallb struct {
	controller, speaker, tag string
}

// images are MetalLB's two images as its native manifest names them, laid out like upstream's
// distroless ones: the binary at the root, a passwd with nobody (the controller runs as 65534), /tmp.
func (m metallb) images() []image {
	if m.tag == "" {
		return nil
	}
	base := []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{name: "tmp", mode: 0o1777, dir: true},
	}
	return []image{
		{
			tag:        "quay.io/metallb/controller:" + m.tag,
			files:      append([]file{{name: "controller", mode: 0o755, source: m.controller}}, base...),
			entrypoint: []string{"/controller"},
		},
		{
			tag:        "quay.io/metallb/speaker:" + m.tag,
			files:      append([]file{{name: "speaker", mode: 0o755, source: m.speaker}}, base...),
			entrypoint: []string{"/speaker"},
		},
	}
}

func run(out, pause, coredns, corednsTag, busybox string, ml metallb) error {
	bb, err := busyboxImage(busybox)
	if err != nil {
		return err
	}
	images := []image{
		{
			tag:        "registry.k8s.io/pause:3.10",
			files:      []file{{name: "pause", mode: 0o755, source: pause}},
			entrypoint: []string{"/pause"},
			// Upstream's pause image runs as nobody.
			user: "65535:65535",
		},
		{
			tag: "docker.io/rancher/mirrored-coredns-coredns:" + corednsTag,
			files: []file{
				{name: "coredns", mode: 0o755, source: coredns},
				{name: "etc", mode: 0o755, dir: true},
				{name: "tmp", mode: 0o1777, dir: true},
			},
			entrypoint: []string{"/coredns"},
			// Root, where upstream runs as nonroot with cap_net_bind_service set on the file: the
			// capability would need an xattr in the layer, and k3s's Deployment allows both.
			user: "0:0",
		},
		bb,
	}
	images = append(images, ml.images()...)

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := write(f, images); err != nil {
		f.Close()
		os.Remove(out)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(out)
		return err
	}
	return nil
}

// busyboxImage is docker.io/library/busybox as the official image lays it out: every applet a
// link to /bin/busybox, a root and a nobody user, sh as the command.
func busyboxImage(busybox string) (image, error) {
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return image{}, fmt.Errorf("%s --list: %w", busybox, err)
	}
	applets := strings.Fields(string(list))
	for _, need := range busyboxNeeds {
		if !slices.Contains(applets, need) {
			return image{}, fmt.Errorf("%s has no %s applet", busybox, need)
		}
	}
	files := []file{
		{name: "bin", mode: 0o755, dir: true},
		{name: "bin/busybox", mode: 0o755, source: busybox},
	}
	for _, applet := range applets {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			files = append(files, file{name: "bin/" + applet, mode: 0o777, link: "busybox"})
		}
	}
	files = append(files,
		file{name: "etc", mode: 0o755, dir: true},
		file{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		file{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		file{name: "home", mode: 0o755, dir: true},
		file{name: "root", mode: 0o700, dir: true},
		file{name: "tmp", mode: 0o1777, dir: true},
		file{name: "usr", mode: 0o755, dir: true},
		file{name: "usr/sbin", mode: 0o755, dir: true},
		file{name: "var", mode: 0o755, dir: true},
		file{name: "var/www", mode: 0o755, dir: true},
	)
	return image{
		tag:   "docker.io/library/busybox:1.37",
		files: files,
		cmd:   []string{"sh"},
	}, nil
}

// write lays out the images as `docker save` does: <config digest>.json, <layer digest>/layer.tar
// and manifest.json listing them with their tags.
func write(w io.Writer, images []image) error {
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	tw := tar.NewWriter(w)
	for _, img := range images {
		layer, err := buildLayer(img.files)
		if err != nil {
			return fmt.Errorf("%s: %w", img.tag, err)
		}
		layerSum := sha256.Sum256(layer)
		layerHex := hex.EncodeToString(layerSum[:])
		config, err := json.Marshal(imageConfig(img, "sha256:"+layerHex))
		if err != nil {
			return err
		}
		configSum := sha256.Sum256(config)
		configName := hex.EncodeToString(configSum[:]) + ".json"
		layerName := layerHex + "/layer.tar"
		if err := addDir(tw, layerHex); err != nil {
			return err
		}
		if err := addFile(tw, layerName, layer); err != nil {
			return err
		}
		if err := addFile(tw, configName, config); err != nil {
			return err
		}
		manifest = append(manifest, entry{Config: configName, RepoTags: []string{img.tag}, Layers: []string{layerName}})
	}
	data, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := addFile(tw, "manifest.json", data); err != nil {
		return err
	}
	return tw.Close()
}

// imageConfig is the OCI image config (the subset Docker and containerd read).
func imageConfig(img image, diffID string) map[string]any {
	run := map[string]any{"Env": []string{defaultPath}}
	if img.entrypoint != nil {
		run["Entrypoint"] = img.entrypoint
	}
	if img.cmd != nil {
		run["Cmd"] = img.cmd
	}
	if img.user != "" {
		run["User"] = img.user
	}
	created := epoch.Format(time.RFC3339)
	return map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created,
		"config":       run,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": created, "created_by": "k3s-over-usb lab/k3s/cmd/mkimages"}},
	}
}

func buildLayer(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		var body []byte
		switch {
		case f.dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, f.name+"/"
		case f.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.link
		case f.source != "":
			data, err := os.ReadFile(f.source)
			if err != nil {
				return nil, err
			}
			body = data
		default:
			body = f.data
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() == 0 {
		return nil, errors.New("empty layer")
	}
	return buf.Bytes(), nil
}

func addDir(tw *tar.Writer, name string) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path.Clean(name) + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
}

func addFile(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
