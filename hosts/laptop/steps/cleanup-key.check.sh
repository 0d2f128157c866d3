# K3sServer: the laptop's cleanup key exists.
if [ -s "$KEY_PATH" ] && [ -s "$KEY_PATH.pub" ]; then
	ok k3s "cleanup key present"
else
	fail k3s "$KEY_PATH is missing: deleting an agent could not uninstall it from its phone" up
fi
