module k3s-over-usb/lab/k3s-standin

go 1.26
