# K3sServer, on delete: the laptop's cleanup key goes with the cluster.
: "${KEY_PATH:?where the key lives}"
remove_file "$KEY_PATH"
remove_file "$KEY_PATH.pub"
rmdir "$(dirname "$KEY_PATH")" 2>/dev/null || true
